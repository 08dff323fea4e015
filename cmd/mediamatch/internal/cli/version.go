package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mediamatch/mediamatch/server"
)

// versionInfo is what `mediamatch version` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go"`
	FFmpeg    string `json:"ffmpeg"`
}

func (a *app) versionCommand() *cobra.Command {
	var ffmpeg string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of mediamatch, its commit, Go and ffmpeg",
		Long: `version prints the module version of this binary (v1.2.3 when installed with
'go install ...@v1.2.3', (devel) when built from a work tree), the commit it
was built from when the build recorded it (with "+dirty" when the work tree
had changes), the Go version that built it, and the version of the ffmpeg
that serve would run (--ffmpeg, default from PATH).`,
		Example: `  mediamatch version
  mediamatch version --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := server.ReadBuildInfo()
			v := versionInfo{Version: b.Version, Revision: b.Revision, Time: b.Time, Modified: b.Modified,
				GoVersion: b.GoVersion, FFmpeg: server.FFmpegVersion(cmd.Context(), orDefault(ffmpeg, "ffmpeg"))}
			if a.json {
				return json.NewEncoder(a.stdout).Encode(v)
			}
			rev := v.Revision
			if rev == "" {
				rev = "unknown (built without VCS information)"
			} else if v.Modified {
				rev += "+dirty"
			}
			fmt.Fprintf(a.stdout, "mediamatch %s\ncommit     %s\ngo         %s\nffmpeg     %s\n", v.Version, rev, v.GoVersion, v.FFmpeg)
			return nil
		},
	}
	cmd.Flags().StringVar(&ffmpeg, "ffmpeg", "", "path of the ffmpeg binary (default: ffmpeg from PATH)")
	return cmd
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// healthCommand is `mediamatch health`: a probe that speaks
// grpc.health.v1 (for Docker's HEALTHCHECK, systemd or a script).
func (a *app) healthCommand() *cobra.Command {
	var service string
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that a server is up and serving (grpc.health.v1); exit 0 only if SERVING",
		Long: `health asks the server at --server for its grpc.health.v1 status (of --service,
default the whole server) and prints it. It exits 0 when the status is SERVING,
1 otherwise: NOT_SERVING while the index loads and while the server drains
after SIGTERM, or when the server cannot be reached within --timeout. Health
checking needs no token; a TLS server needs --tls-ca (or --tls).`,
		Example: `  mediamatch health
  mediamatch health --server 127.0.0.1:7878 --timeout 3s
  mediamatch health --service mediamatch.v1.MatchService`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := a.conn.dialOptions(a.server, "")
			if err != nil {
				return err
			}
			conn, err := grpc.NewClient(a.server, opts...)
			if err != nil {
				return fmt.Errorf("server %q: %w", a.server, err)
			}
			defer conn.Close()
			ctx, cancel := a.callCtx(cmd.Context())
			defer cancel()
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service}, grpc.WaitForReady(false))
			if err != nil {
				return fmt.Errorf("health of %s: %w", a.server, err)
			}
			st := resp.GetStatus()
			if a.json {
				json.NewEncoder(a.stdout).Encode(map[string]string{"server": a.server, "service": service, "status": st.String()})
			} else {
				fmt.Fprintf(a.stdout, "%s: %s\n", a.server, st)
			}
			if st != healthpb.HealthCheckResponse_SERVING {
				return errReported
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "service to ask about, e.g. mediamatch.v1.MatchService (default: the whole server)")
	return cmd
}
