package main

import (
	"context"
	"fmt"
)

func cmdMigrate(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "migrate [flags]",
		"Apply pending database migrations (membersync's and River's) and exit. serve also migrates at start;\nrun this first when several instances share a PostgreSQL database.",
		"  membersync migrate --config membersync.yaml\n  MEMBERSYNC_CONFIG=/etc/membersync.yaml membersync migrate")
	cfgPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, st, err := openStore(ctx, e, *cfgPath, false)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	v, _, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "%s schema is current (version %d)\n", st.Dialect(), v)
	} else {
		fmt.Fprintf(e.stdout, "applied %d migration(s); %s schema is at version %d\n", len(applied), st.Dialect(), v)
	}
	return nil
}
