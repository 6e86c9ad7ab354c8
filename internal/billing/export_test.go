package billing

import (
	"context"

	"github.com/membersync/membersync/internal/entitlement"
)

// SnapshotWith is Snapshot with at most concurrency calls in flight (1: one call after another, the
// sequential reading) and, when customerFirst, each customer read before its lists.
func SnapshotWith(ctx context.Context, r *Reader, concurrency int, customerFirst bool, customerIDs ...string) (entitlement.Billing, error) {
	return r.snapshot(ctx, snapshotOptions{concurrency: concurrency, customerFirst: customerFirst}, customerIDs...)
}
