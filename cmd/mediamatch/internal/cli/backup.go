package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mediamatch/mediamatch/index"
)

func (a *app) backupCommand() *cobra.Command {
	var (
		out   string
		since uint64
	)
	cmd := &cobra.Command{
		Use:   "backup -o FILE",
		Short: "Write a backup of a running server's store to a file (admin)",
		Long: `backup streams a consistent snapshot of the store of the server at --server
(AdminService.BackupStore; an admin token not limited to banks) into FILE while
the server goes on serving: every write is in it whole or not at all, an import
included. The file ends with the store version it covers and its SHA-256;
backup checks both before it renames the file into place. --since V+1, with V
the version a previous backup covered, writes only what changed since
(incremental). 'mediamatch restore' loads a backup into an empty data dir.`,
		Example: `  mediamatch backup -o mediamatch-$(date +%F).backup
  mediamatch backup --since 1043 -o mediamatch-incr.backup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("backup needs -o FILE")}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".partial-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			ctx, cancel := a.callCtx(cmd.Context())
			defer cancel()
			if err := c.Backup(ctx, tmp, since); err != nil {
				tmp.Close()
				return fmt.Errorf("backup: %w", err)
			}
			if err := tmp.Sync(); err != nil {
				tmp.Close()
				return err
			}
			info, err := index.VerifyBackup(tmp)
			tmp.Close()
			if err != nil {
				return fmt.Errorf("backup: the file received is not whole: %w", err)
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return err
			}
			st, _ := os.Stat(out)
			if a.json {
				return printJSON(a.stdout, map[string]any{"file": out, "version": info.Version, "since": info.Since, "bytes": st.Size()})
			}
			fmt.Fprintf(a.stdout, "backup %s: store version %d (since %d), %s; next incremental: --since %d\n",
				out, info.Version, info.Since, formatBytes(st.Size()), info.Version+1)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (written beside it, renamed into place when whole)")
	cmd.Flags().Uint64Var(&since, "since", 0, "only the writes from this store version on (a previous backup's version + 1)")
	return cmd
}

func (a *app) restoreCommand() *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "restore --data DIR FILE",
		Short: "Load a backup into an empty data dir (offline)",
		Long: `restore checks the backup FILE whole (header, checksum) and loads it into the
data dir --data, which must be empty or missing for a full backup; an
incremental backup goes onto the data dir restored from the backup it
continues. No server may run on DIR. A damaged or cut file is refused and
nothing is written. Then it opens the index once (which discards imports that
were not committed when the backup was taken) and prints what it holds.`,
		Example: `  mediamatch restore --data /var/lib/mediamatch-new mediamatch-2026-12-07.backup`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return usageError{fmt.Errorf("restore needs --data DIR")}
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			log := slog.New(slog.DiscardHandler)
			info, err := index.Restore(data, f, log)
			if err != nil {
				return fmt.Errorf("restore %s: %w", args[0], err)
			}
			ix, err := index.Open(data, index.Options{Logger: log})
			if err != nil {
				return fmt.Errorf("restore: open the restored index: %w", err)
			}
			st := ix.Stats()
			if err := ix.Close(); err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, map[string]any{"data": data, "version": info.Version, "since": info.Since,
					"items": st.Items, "banks": st.BankItems})
			}
			fmt.Fprintf(a.stdout, "restored %s into %s: store version %d, %d items in %d banks\n",
				args[0], data, info.Version, st.Items, len(st.BankItems))
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "data dir to restore into (empty or missing)")
	return cmd
}
