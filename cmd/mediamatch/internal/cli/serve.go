package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/server"
)

func (a *app) serveCommand() *cobra.Command {
	cmd, _ := a.serveCommandWith()
	return cmd
}

// serveCommandWith returns the serve command and its own flags (without
// the root's persistent flags): the configuration keys (config.go).
func (a *app) serveCommandWith() (*cobra.Command, *pflag.FlagSet) {
	var (
		own                       *pflag.FlagSet
		ops                       opsFlags
		cfg                       server.Config
		logLevel                  string
		tlsCert, tlsKey, clientCA string
		clientRoles               []string
		dev                       bool
		matcherThresholds         []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the mediamatch gRPC service",
		Long: fmt.Sprintf(`serve runs the mediamatch gRPC service (MatchService, HashService, BankService,
AdminService, plus gRPC health checking and reflection) on the embedded store in
--data, until SIGINT or SIGTERM, then stops gracefully.

Without TLS it listens on loopback only; a non-loopback --listen needs
--tls-cert and --tls-key. --client-ca requires every client to present a
certificate signed by that CA (mutual TLS); --client-role CN=ROLE gives the
certificates with that subject common name a role.

Every call but health checking must authenticate (a token, or a client
certificate with a role), unless --dev is given: then a plaintext loopback
server without tokens is open to every local process, for development only
(anything on the host that relays connections, such as a reverse proxy, an
SSH tunnel or a container port mapping, makes remote callers look local).
Once any token exists calls must authenticate even with --dev. When
authentication is required and no token exists (and no --client-role gives
admin), serve creates an admin token and writes its secret to the file
DATA/bootstrap-admin-token (mode 0600; the log names the file, never the
secret): read it, keep it safe, delete the file. Or make the first token
with 'mediamatch token create --data DIR' while the server is stopped.
Failed authentications are logged with the peer address and limited per
peer IP.

Roles: matcher (match, hash), moderator (and read banks and items), curator
(and change them, import, export), admin (and tokens, the audit log). Every
curator and admin call is recorded in the audit log ('mediamatch audit').
Each token or certificate may make --rate-limit calls a second (bursts of
--rate-burst); at most --max-uploads uploads are hashed (or MatchSignals
calls searched) at once, --max-uploads-per-caller of them by one caller, and
a freed slot goes to the waiting caller that holds the fewest. A streamed
upload takes its slot once its last chunk has come (receiving holds memory,
not a slot); a stream quiet for --upload-idle-timeout, or an
upload slower than --min-upload-rate bytes a second after its first 10
seconds, is ended. Streamed uploads hold at most --max-upload-memory bytes
in all; the server accepts at most --max-connections connections
(--max-connections-per-ip from one address) and --max-calls calls at once:
--max-calls-per-caller by one token or certificate, --max-calls-per-ip by one
address without credentials, and, while authentication is required, a
quarter of --max-calls without credentials in all.

Callers below curator (matcher and moderator tokens) see no distance and no
partner source in a match, may ask for thresholds up to --matcher-threshold
(default: the default thresholds, pdq=%d phash=%d dhash=%d) and at most
--matcher-max-results results. One match call searches at most
--match-max-probes signals, gathers at most --match-max-hits keyframe pairs
and returns at most --match-max-frames of them, for every role.

Images are decoded within --decode-memory bytes in all (an image needing
more is refused, others wait), JPEGs may have --max-jpeg-scans scans, and
decoding one image may take --image-timeout. Writes keep --min-free-bytes
free on the data dir's file system (without that much free at start the
index opens read-only: matches are served, writes refused); audit entries
are kept --audit-retention and at most --audit-max-entries.

Files up to --max-unary-bytes may be sent in one message, larger ones
(videos) are streamed up to --max-stream-bytes. Uploads are kept in memory
only: never written to disk, never logged. Videos need ffmpeg (--ffmpeg,
default from PATH). Logs go to stderr (--log-format text or json).

Every flag is also a key of the TOML file --config (or $MEDIAMATCH_CONFIG)
and an environment variable MEDIAMATCH_<FLAG> (upper case, '-' as '_'): a
flag wins over the variable, which wins over the file; 'mediamatch config
print' shows the result. --metrics-listen serves Prometheus metrics. On
SIGTERM health checking says NOT_SERVING and calls in flight get
--drain-grace to finish.`,
			mediamatch.PDQ.DefaultThreshold(), mediamatch.PHash.DefaultThreshold(), mediamatch.DHash.DefaultThreshold()),
		Example: `  mediamatch serve --dev
  mediamatch serve --data /var/lib/mediamatch
  mediamatch serve --data /var/lib/mediamatch --listen 127.0.0.1:7979 --log-level debug
  mediamatch serve --listen :7878 --tls-cert server.pem --tls-key server-key.pem
  mediamatch serve --listen :7878 --tls-cert server.pem --tls-key server-key.pem \
      --client-ca partners-ca.pem --client-role upload-gw=matcher --client-role curation=curator`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := newSettings(own).resolve(a.configPath(own), a.getenv); err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)}
			}
			if (tlsCert == "") != (tlsKey == "") {
				return usageError{fmt.Errorf("--tls-cert and --tls-key go together")}
			}
			if tlsCert == "" && (clientCA != "" || len(clientRoles) > 0) {
				return usageError{fmt.Errorf("--client-ca and --client-role need TLS: give --tls-cert and --tls-key")}
			}
			if dev && (tlsCert != "" || cmd.Flags().Changed("auth")) {
				return usageError{fmt.Errorf("--dev is for an open plaintext loopback server: not with --tls-cert or --auth")}
			}
			if !cfg.Auth && !dev {
				return usageError{fmt.Errorf("--auth=false: authentication is required outside development; give --dev for an open loopback development server")}
			}
			cfg.Auth = !dev
			if len(clientRoles) > 0 && clientCA == "" {
				return usageError{fmt.Errorf("--client-role needs --client-ca: only verified client certificates get roles")}
			}
			roles, err := server.ParseClientRoles(clientRoles)
			if err != nil {
				return usageError{fmt.Errorf("--client-role: %w", err)}
			}
			cfg.ClientRoles = roles
			if cfg.MatcherThresholds, err = parseThresholds("--matcher-threshold", matcherThresholds); err != nil {
				return err
			}
			if tlsCert != "" {
				if cfg.Credentials, err = server.TLSCredentials(tlsCert, tlsKey, clientCA); err != nil {
					return err
				}
			}
			if err := ops.apply(&cfg); err != nil {
				return err
			}
			cfg.Logger = ops.logger(a.stderr, level)
			return server.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", server.DefaultDataDir, "directory of the index (created if missing)")
	f.StringVar(&cfg.Listen, "listen", server.DefaultListen, "address to listen on (loopback only without TLS; port 0 picks one)")
	f.StringVar(&cfg.FFmpeg, "ffmpeg", "", "path of the ffmpeg binary (default: ffmpeg from PATH)")
	f.Int64Var(&cfg.MaxUnaryBytes, "max-unary-bytes", server.DefaultMaxUnaryBytes, "largest file accepted in one message")
	f.Int64Var(&cfg.MaxStreamBytes, "max-stream-bytes", server.DefaultMaxStreamBytes, "largest file accepted as a stream")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "how long to wait for running calls on shutdown")
	_ = f.MarkDeprecated("shutdown-timeout", "use --drain-grace")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&tlsCert, "tls-cert", "", "PEM file of the server's certificate chain: serve TLS (with --tls-key)")
	f.StringVar(&tlsKey, "tls-key", "", "PEM file of the server's private key")
	f.StringVar(&clientCA, "client-ca", "", "PEM file of the CA(s) client certificates must chain to: require mutual TLS")
	f.StringArrayVar(&clientRoles, "client-role", nil, "CN=ROLE: client certificates with this subject CN get ROLE (repeatable)")
	f.BoolVar(&cfg.Auth, "auth", true, "require authentication (the default; kept for old scripts)")
	f.BoolVar(&dev, "dev", false, "development: a loopback server without TLS and without tokens is open to every local process")
	f.Float64Var(&cfg.RateLimit, "rate-limit", server.DefaultRateLimit, "calls a second per token or certificate (negative: no limit)")
	f.IntVar(&cfg.RateBurst, "rate-burst", server.DefaultRateBurst, "calls a token or certificate may make at once over --rate-limit")
	f.IntVar(&cfg.MaxUploads, "max-uploads", server.DefaultMaxUploads(), "uploads hashed and MatchSignals calls searched at once; more wait")
	f.DurationVar(&cfg.CallTimeout, "call-timeout", server.DefaultCallTimeout, "deadline of calls that set none")
	f.DurationVar(&cfg.MaxCallTimeout, "max-call-timeout", server.DefaultMaxCallTimeout, "longest deadline a call may have")
	f.IntVar(&cfg.MaxUploadsPerCaller, "max-uploads-per-caller", 0, "uploads one token, certificate or anonymous peer holds at once (default max(1, max-uploads/2))")
	f.DurationVar(&cfg.UploadIdleTimeout, "upload-idle-timeout", server.DefaultUploadIdleTimeout, "longest wait for a stream's next message")
	f.Int64Var(&cfg.MinUploadRate, "min-upload-rate", server.DefaultMinUploadRate, "least bytes a second of a streamed upload after its first 10s (negative: no minimum)")
	f.Int64Var(&cfg.MaxUploadMemory, "max-upload-memory", server.DefaultMaxUploadMemory, "bytes of streamed uploads held at once in all (at least --max-stream-bytes)")
	f.IntVar(&cfg.MaxCalls, "max-calls", server.DefaultMaxCalls, "calls open at once on the server, authenticated or not")
	f.IntVar(&cfg.MaxCallsPerIP, "max-calls-per-ip", 0, "calls without credentials open at once from one IP address (default max(1, max-calls/4))")
	f.IntVar(&cfg.MaxCallsPerCaller, "max-calls-per-caller", 0, "calls open at once by one token or client certificate (default max(1, max-calls/16))")
	f.IntVar(&cfg.MaxConnections, "max-connections", server.DefaultMaxConnections, "connections open at once")
	f.IntVar(&cfg.MaxConnectionsPerIP, "max-connections-per-ip", server.DefaultMaxConnectionsPerIP, "connections open at once from one IP address")
	f.StringArrayVar(&matcherThresholds, "matcher-threshold", nil, "TYPE=BITS: the widest threshold callers below curator may ask for a signal type (repeatable; default the type's default threshold)")
	f.IntVar(&cfg.MaxMatcherResults, "matcher-max-results", server.DefaultMaxMatcherResults, "most results per match call for callers below curator")
	f.IntVar(&cfg.MaxMatchProbes, "match-max-probes", index.DefaultMaxMatchProbes, "signals one match call searches: keyframes x signals x variants (negative: no limit)")
	f.IntVar(&cfg.MaxMatchHits, "match-max-hits", index.DefaultMaxMatchHits, "keyframe pairs within the thresholds one match call gathers (negative: no limit)")
	f.IntVar(&cfg.MaxFrameMatches, "match-max-frames", index.DefaultMaxFrameMatches, "keyframe pairs one match call returns (negative: no limit)")
	f.Int64Var(&cfg.DecodeMemory, "decode-memory", fingerprint.DefaultDecodeMemory, "bytes all in-process image decodes hold at once")
	f.IntVar(&cfg.MaxJPEGScans, "max-jpeg-scans", fingerprint.DefaultMaxJPEGScans, "most scans a JPEG may have")
	f.DurationVar(&cfg.ImageTimeout, "image-timeout", fingerprint.DefaultImageTimeout, "deadline for decoding and hashing one image")
	f.Int64Var(&cfg.MinFreeBytes, "min-free-bytes", index.DefaultMinFreeBytes, "free bytes writes keep in reserve on the data dir's file system (negative: no check)")
	f.DurationVar(&cfg.AuditRetention, "audit-retention", index.DefaultAuditRetention, "how long audit entries are kept (negative: forever)")
	f.IntVar(&cfg.AuditMaxEntries, "audit-max-entries", index.DefaultAuditMaxEntries, "most audit entries kept; the oldest go first")
	ops.flags(f, &cfg)
	own = pflag.NewFlagSet("serve", pflag.ContinueOnError)
	f.VisitAll(func(fl *pflag.Flag) { own.AddFlag(fl) })
	return cmd, own
}
