package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show a server's version, uptime, data dir size, banks, signals and imports (admin)",
		Long: `status asks the server at --server (AdminService.GetServerStatus; needs an admin
token) for its build (version, commit, Go, ffmpeg), when it started and how long
its index took to load, the size of its data dir, its signals per type, and a
table of its banks: items, signals per type (of enabled items) and the last
import since the start. A token limited to banks sees only those banks.`,
		Example: `  MEDIAMATCH_TOKEN=$(cat admin.token) mediamatch status
  mediamatch status --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd.Context())
			defer cancel()
			st, err := c.ServerStatus(ctx)
			if err != nil {
				return err
			}
			if a.json {
				b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(st)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s\n", b)
				return nil
			}
			now := time.Now()
			if a.now != nil {
				now = a.now()
			}
			w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			rev := st.GetRevision()
			if rev == "" {
				rev = "unknown"
			}
			fmt.Fprintf(w, "version\t%s (commit %s, %s, ffmpeg %s)\n", st.GetVersion(), rev, st.GetGoVersion(), st.GetFfmpegVersion())
			if t := st.GetStartTime(); t != nil {
				fmt.Fprintf(w, "started\t%s (up %s)\n", t.AsTime().Format(time.RFC3339), now.Sub(t.AsTime()).Round(time.Second))
			}
			fmt.Fprintf(w, "index load\t%s\n", time.Duration(st.GetIndexLoadMillis())*time.Millisecond)
			fmt.Fprintf(w, "data dir\t%s\n", formatBytes(st.GetDataDirBytes()))
			fmt.Fprintf(w, "items\t%d\n", st.GetItems())
			var sigs []string
			for _, s := range st.GetSignals() {
				sigs = append(sigs, fmt.Sprintf("%s %d", signalName(s.GetType()), s.GetCount()))
			}
			if len(sigs) > 0 {
				fmt.Fprintf(w, "signals\t%s\n", strings.Join(sigs, ", "))
			}
			w.Flush()
			if len(st.GetBanks()) > 0 {
				// One column per signal type, in the server's order
				// (PDQ, pHash, dHash, MD5, SHA-256); "-" where a server
				// older than the column did not count it.
				var types []pb.SignalType
				for _, b := range st.GetBanks() {
					for _, s := range b.GetSignals() {
						if !slices.Contains(types, s.GetType()) {
							types = append(types, s.GetType())
						}
					}
				}
				w = tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintf(w, "\nBANK\tITEMS\t")
				for _, t := range types {
					fmt.Fprintf(w, "%s\t", strings.ToUpper(signalName(t)))
				}
				fmt.Fprintf(w, "LAST IMPORT\n")
				for _, b := range st.GetBanks() {
					last := "-"
					if t := b.GetLastImportTime(); t != nil {
						last = t.AsTime().Format(time.RFC3339)
					}
					fmt.Fprintf(w, "%s\t%d\t", b.GetName(), b.GetItems())
					for _, t := range types {
						i := slices.IndexFunc(b.GetSignals(), func(s *pb.SignalCount) bool { return s.GetType() == t })
						if i < 0 {
							fmt.Fprintf(w, "-\t")
						} else {
							fmt.Fprintf(w, "%d\t", b.GetSignals()[i].GetCount())
						}
					}
					fmt.Fprintf(w, "%s\n", last)
				}
				w.Flush()
			}
			return nil
		},
	}
}

// signalName is "pdq" for SIGNAL_TYPE_PDQ.
func signalName(t pb.SignalType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "SIGNAL_TYPE_"))
}
