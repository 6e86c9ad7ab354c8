// Package store owns membersync's persistence: the Stripe event inbox, people and their Stripe
// customers, and the journal, on SQLite (the default, a file, pure Go) or PostgreSQL (to scale out).
// Migrations are numbered .sql files per dialect, embedded, applied in a transaction with a ledger;
// River's own tables are migrated alongside. SQL is written once with ? placeholders; the dialect
// seam (rebind, the two connection kinds) is in store.go.
//
// The files, by topic:
//
// The database:
//   - store.go: Open, the Store and its transactions (InTx, Tx), the dialect seam, query helpers.
//   - migrate.go and migrations/: the schema.
//   - health.go: the readiness probe's write.
//
// The sync path, in the order data passes through it:
//   - events.go: the webhook inbox (IngestEvent), dirty marks (MarkDirty, Trigger), event lookups.
//   - people.go: people and their Stripe customers.
//   - sync.go: one sync of a person: its lease, generation (StartSync), applied grants, identity
//     changes, merges and result.
//   - billing.go: the billing snapshot the last sync read.
//   - review.go: the review queue; an open item's action key blocks that action.
//   - journal.go: each step of a person's journey.
//
// Around the sync:
//   - drift.go: what the drift sweep compares and corrects, its reports, named task leases.
//   - backfill.go: backfill runs from Stripe's Events API and their cursor.
//   - status.go: the customer status pages (checkout sessions, their rate limits).
//   - alerts.go: alert states and notifications, refused webhook deliveries, the figures alert
//     rules read.
//   - stats.go, jobs.go: metrics figures and River job counts.
//   - doctor.go: stored launch-readiness reports.
//   - catalog.go: the cached names of provider ids (access groups, tags, sequences, prices).
//   - budget.go: the provider request budgets every instance shares, and the month's request counts.
//   - instance.go, atrest.go: facts kept from one start to the next (the Stripe mode), file permissions.
//   - servelock*.go: the lock that keeps a second serve off one SQLite file.
//
// The admin surface:
//   - users.go, sessions.go, tokens.go: operators, their browser sessions and API tokens.
//   - throttle.go: the sign-in throttle.
//   - audit.go: the append-only audit log.
//   - search.go, eventlist.go, overview.go: the people search, the event list, the overview figures.
package store
