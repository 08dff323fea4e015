package cli

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/server"
)

// opsFlags are serve's operations settings: configuration file, log
// format, metrics and draining.
type opsFlags struct {
	config    string
	logFormat string
}

func (o *opsFlags) flags(f *pflag.FlagSet, cfg *server.Config) {
	f.StringVar(&o.config, "config", "", "TOML file of settings: each key a serve flag (default $"+EnvConfig+"); flags, then MEDIAMATCH_<KEY> variables, win over it")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json (one object per line)")
	f.DurationVar(&cfg.ShutdownTimeout, "drain-grace", server.DefaultShutdownTimeout,
		"on SIGTERM health checking says NOT_SERVING and new calls are refused; calls in flight get this long to finish")
	f.DurationVar(&cfg.VlogGCInterval, "vlog-gc-interval", index.DefaultVlogGCInterval,
		"how often Badger's value log is garbage-collected to reclaim the space of deleted values (negative: never)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics (off by default; loopback only without --metrics-token or TLS)")
	f.StringVar(&cfg.MetricsToken, "metrics-token", "", "require \"Authorization: Bearer TOKEN\" of scrapers (secret: prefer $MEDIAMATCH_METRICS_TOKEN or the config file)")
	f.StringVar(&cfg.MetricsTLSCert, "metrics-tls-cert", "", "PEM certificate chain: serve metrics over HTTPS (with --metrics-tls-key)")
	f.StringVar(&cfg.MetricsTLSKey, "metrics-tls-key", "", "PEM private key of --metrics-tls-cert")
}

// apply checks the settings that go together.
func (o *opsFlags) apply(cfg *server.Config) error {
	if (cfg.MetricsTLSCert == "") != (cfg.MetricsTLSKey == "") {
		return usageError{fmt.Errorf("--metrics-tls-cert and --metrics-tls-key go together")}
	}
	return nil
}

// logger returns the server's logger: text or JSON lines to w at level.
func (o *opsFlags) logger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
