package cli

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediamatch/mediamatch/server"
)

func (a *app) serveCommand() *cobra.Command {
	var (
		cfg      server.Config
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the mediamatch gRPC service",
		Long: `serve runs the mediamatch gRPC service (MatchService, HashService, BankService,
plus gRPC health checking and reflection) on the embedded store in --data,
until SIGINT or SIGTERM, then stops gracefully.

Without TLS and authentication (not yet available) it listens on loopback only;
a non-loopback --listen is refused. Files up to --max-unary-bytes may be sent
in one message, larger ones (videos) are streamed up to --max-stream-bytes.
Uploads are kept in memory only: never written to disk, never logged.
Videos need ffmpeg (--ffmpeg, default from PATH). Logs go to stderr.`,
		Example: `  mediamatch serve
  mediamatch serve --data /var/lib/mediamatch --listen 127.0.0.1:7979 --log-level debug`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)}
			}
			cfg.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
			return server.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", server.DefaultDataDir, "directory of the index (created if missing)")
	f.StringVar(&cfg.Listen, "listen", server.DefaultListen, "address to listen on (loopback only; port 0 picks one)")
	f.StringVar(&cfg.FFmpeg, "ffmpeg", "", "path of the ffmpeg binary (default: ffmpeg from PATH)")
	f.Int64Var(&cfg.MaxUnaryBytes, "max-unary-bytes", server.DefaultMaxUnaryBytes, "largest file accepted in one message")
	f.Int64Var(&cfg.MaxStreamBytes, "max-stream-bytes", server.DefaultMaxStreamBytes, "largest file accepted as a stream")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to wait for running calls on shutdown")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
