package journey

import (
	"strconv"
	"strings"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/store"
)

// reviewWord is a review kind in the founder's words: a title saying what happened, and what to do.
type reviewWord struct{ title, action string }

// reviewWords holds every review kind membersync opens (internal/converge, internal/entitlement,
// internal/drift, internal/doctor); TestEveryReviewKindHasWords keeps it complete. "Retry" and
// "Resolve" are the buttons on the item: Retry closes it and syncs the person again, Resolve closes
// it with a note.
var reviewWords = map[string]reviewWord{
	"credentials": {"A provider refused membersync's credentials",
		"Fix the key or token in the environment, check it under Settings → Check connections, then press Retry."},
	"action_failed": {"A change can never succeed as sent",
		"Fix the cause below in the provider or in the plan mapping, then press Retry."},
	"sync_failing": {"The sync keeps failing",
		"Nothing to do while a provider is down: membersync keeps retrying and closes this item once a sync succeeds. If the error below persists, fix its cause and press Retry."},
	"retries_exhausted": {"membersync gave up retrying",
		"Fix the cause shown below (often a provider outage or a refused token), then press Retry."},
	"email_conflict": {"Two emails claim this person",
		"Decide in Stripe which email is right (or give the other person's customer its own email), then press Retry."},
	"circle_member_limit": {"Circle's member limit is reached",
		"Nothing to fix now: membersync retries once the limit lifts. If it happens on every launch, upgrade the Circle plan."},
	"unmapped_price": {"A payment for a price no plan maps",
		"Add the price (or its product) to a plan in the config and restart, then press Retry; Resolve it if it should grant nothing."},
	"conflicting_data": {"A price maps to more than one plan",
		"Make each price and product belong to one plan in the config and restart, then press Retry."},
	"unknown_status": {"Stripe reported a status membersync does not know",
		"Look at the subscription or dispute in Stripe; no access is granted for it until then. Resolve with what you found."},
	"drift_sweep": {"The drift sweep did not finish",
		"Read the error below (often a refused token or Circle's monthly quota), fix it, then Resolve; the next scheduled sweep runs again."},
	"drift_detected": {"The drift sweep found differences",
		"Run membersync reconcile --repair (or resync the people it names), then Resolve."},
	"doctor_failure": {"The launch audit found new failures",
		"Run membersync doctor --domain with the domain below for the fixes, then Resolve."},
	"stranger": {"Someone holds managed access without a plan or a comp",
		"Press Remove to take them out of the managed groups and tags (through a journaled sync), or Comp to give them the plan without payment, with a reason. Set reconcile.unknown_members: remove to remove strangers automatically."},
	"unknown_member": {"Someone is in a managed Circle group without a plan",
		"Remove them, or comp them if they should keep access."},
	"unknown_subscriber": {"Someone carries a managed Kit tag without a plan",
		"Remove the tag, or comp them if they should have the plan."},
}

// Review returns a review kind's title and suggested action in words. A kind it does not know gets
// its own name as the title and general advice.
func Review(kind string) (title, action string) {
	if w, ok := reviewWords[kind]; ok {
		return w.title, w.action
	}
	if prov, ok := strings.CutSuffix(kind, "_limit"); ok && prov != "" {
		return providerName(prov) + " reached a limit of its plan",
			"Nothing to fix now: membersync retries once the limit lifts. If it keeps happening, upgrade that plan."
	}
	return upperFirst(strings.ReplaceAll(kind, "_", " ")),
		"Read the reason below, fix its cause, then press Retry (or Resolve with a note)."
}

// ReviewOf returns the title and suggested action of one review item, made precise by its action
// key: which provider refused the credentials, which group or tag a change was for.
func ReviewOf(it store.ReviewItem, names catalog.Names) (title, action string) {
	names = catalog.Or(names)
	title, action = Review(it.Kind)
	prov, rest, _ := strings.Cut(it.ActionKey, ":")
	switch it.Kind {
	case "credentials":
		p := providerName(prov)
		if strings.Contains(it.Reason, "allowlist") {
			return "membersync's outbound allowlist blocked " + p,
				"Fix the config key the reason names (the provider's base URL or egress), restart membersync, then press Retry."
		}
		if env := secretEnv[prov]; env != "" {
			return p + " refused membersync's credentials",
				"Fix " + env + " in the environment, check it under Settings → Check connections, then press Retry."
		}
	case "action_failed":
		if change := changeWords(prov, rest, names); change != "" {
			return providerName(prov) + " refused to " + change,
				"Check it in " + providerName(prov) + " (does it still exist? is the email valid?) and in the plan mapping, then press Retry."
		}
		if prov == "stripe" {
			return "A Stripe request can never succeed as sent", "Check the customer in Stripe and membersync's Stripe key, then press Retry."
		}
	case "doctor_failure":
		if it.ActionKey != "" {
			return title, "Run membersync doctor --domain " + it.ActionKey + " for the fixes, then Resolve."
		}
	}
	return title, action
}

// kitName is a Kit tag's or sequence's name, or "Kit tag 21" when the catalog does not know it.
func kitName(name, fallback, kind string, id int64) string {
	if name == fallback {
		return kind + " " + strconv.FormatInt(id, 10)
	}
	return name
}

// secretEnv names the environment variable holding each provider's credential.
var secretEnv = map[string]string{"circle": "CIRCLE_API_TOKEN", "kit": "KIT_API_KEY", "stripe": "STRIPE_SECRET_KEY"}

// changeWords words the change an action key names ("circle:add_access_group:11"), as in
// "Circle refused to add them to Pro members"; "" for a key that names no change.
func changeWords(prov, rest string, names catalog.Names) string {
	op, idText, _ := strings.Cut(rest, ":")
	id, _ := strconv.ParseInt(idText, 10, 64)
	switch prov + ":" + op {
	case "circle:add_access_group":
		return "add them to " + names.AccessGroup(id)
	case "circle:remove_access_group":
		return "remove them from " + names.AccessGroup(id)
	case "circle:create_member":
		return "create their member"
	case "kit:upsert_subscriber":
		return "create their subscriber"
	case "kit:tag":
		return "tag them " + kitName(names.Tag(id), (catalog.Fallback{}).Tag(id), "Kit tag", id)
	case "kit:untag":
		return "remove " + kitName(names.Tag(id), (catalog.Fallback{}).Tag(id), "Kit tag", id)
	case "kit:add_to_sequence":
		return "enroll them in " + kitName(names.Sequence(id), (catalog.Fallback{}).Sequence(id), "Kit sequence", id)
	}
	return ""
}
