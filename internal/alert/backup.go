package alert

import (
	"context"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// RuleBackup fires while the last scheduled backup (backup.dir, internal/backup) failed and none
// succeeded since; the next backup that succeeds resolves it.
const RuleBackup = "backup"

// backupFailed reports the scheduled backup's last failure when it is newer than its last success.
func (e *Evaluator) backupFailed(ctx context.Context, now time.Time) ([]finding, error) {
	ok, failed, err := e.Store.BackupRuns(ctx)
	if err != nil || failed.At.IsZero() || !failed.At.After(ok.At) {
		return nil, err
	}
	return []finding{backupFinding(ok, failed, e.link(pageOverview))}, nil
}

func backupFinding(ok, failed store.BackupRun, link string) finding {
	detail := upperFirst(redact(failed.Err)) + ". membersync tries again within the hour;"
	if ok.At.IsZero() {
		detail += " no scheduled backup has succeeded yet."
	} else {
		detail += " the last good backup is " + ok.Path + " (" + ok.At.UTC().Format("2006-01-02 15:04 UTC") + ")."
	}
	return finding{title: "The scheduled backup failed", detail: detail, since: failed.At, affected: -1, link: link}
}
