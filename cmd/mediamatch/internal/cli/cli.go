package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/mediamatch/mediamatch/client"
	"github.com/mediamatch/mediamatch/server"
)

// EnvServer is the environment variable that sets the default --server.
const EnvServer = "MEDIAMATCH_SERVER"

// EnvToken is the environment variable that holds the API token when
// --token is not given (safer than --token, which other users of the host
// can see in the process list).
const EnvToken = "MEDIAMATCH_TOKEN"

// maxRecvBytes is the largest response the CLI accepts: item listings and
// video matches can pass gRPC's default 4 MiB.
const maxRecvBytes = 64 << 20

// Main runs the mediamatch command line with args (without the program
// name), writing output to stdout and messages to stderr, and returns the
// process exit status: 0 on success (whether or not anything matched), 1
// when a command failed, 2 for a usage error. ctx cancels everything (the
// caller ties it to SIGINT and SIGTERM).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return a.main(ctx, args)
}

// app is one run of the command line: its flags, output and connection.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// now and isTerminal, if set, replace time.Now and the terminal check
	// of progress display (tests set them).
	now        func() time.Time
	isTerminal func(io.Writer) bool

	server  string
	json    bool
	timeout time.Duration
	conn    connFlags

	cc *grpc.ClientConn
	c  *client.Client
}

// errReported means the failures were already written to stderr.
var errReported = errors.New("reported")

// usageError is a mistake in the command line itself.
type usageError struct{ error }

func (a *app) main(ctx context.Context, args []string) int {
	root := a.command()
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if a.cc != nil {
		a.cc.Close()
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errReported):
		return 1
	case errors.As(err, &ue) || isCobraUsage(err):
		fmt.Fprintf(a.stderr, "mediamatch: %v\nRun 'mediamatch --help' for usage.\n", err)
		return 2
	}
	fmt.Fprintf(a.stderr, "mediamatch: %s\n", a.explain(err))
	return 1
}

// isCobraUsage reports whether err is one of cobra's flag or argument errors.
func isCobraUsage(err error) bool {
	var ce *client.Error
	if errors.As(err, &ce) {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "unknown command", "flag needs an argument",
		"accepts ", "requires at least", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// explain returns err's message, with a hint where one helps.
func (a *app) explain(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, client.ErrUnavailable):
		msg += fmt.Sprintf(" (is `mediamatch serve` running at %s? set --server or $%s; a TLS server needs --tls-ca)", a.server, EnvServer)
	case errors.Is(err, client.ErrUnauthenticated):
		msg += fmt.Sprintf(" (set $%s or --token)", EnvToken)
	}
	return msg
}

func (a *app) command() *cobra.Command {
	defServer := a.getenv(EnvServer)
	if defServer == "" {
		defServer = server.DefaultListen
	}
	root := &cobra.Command{
		Use:   "mediamatch",
		Short: "Recognise known terrorist and violent-extremist images and videos by perceptual hashes",
		Long: `mediamatch recognises known terrorist and violent-extremist propaganda images and
videos by perceptual hashes (PDQ, the hash partners share, by default; pHash and
dHash on request; MD5 and SHA-256 for exact copies).

'mediamatch serve' runs the gRPC service on its own embedded store. The other
commands talk to a running server (--server, default $` + EnvServer + ` or ` + server.DefaultListen + `):
curators create banks and add known items; moderators and upload paths match
files against them.`,
		Example: `  mediamatch serve --data ./data &
  mediamatch bank create tve
  mediamatch add --bank tve --label entity=example known.mp4
  mediamatch add --bank tve --label source=partner-a --hashes partner-a-pdq.txt
  mediamatch import --bank gifct --skip-invalid gifct-hashes.csv
  mediamatch match --upright upload.jpg`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", defServer, "address of the mediamatch server (env "+EnvServer+")")
	pf.BoolVar(&a.json, "json", false, "print JSON, one object per line (per input file for hash, match, add)")
	pf.DurationVar(&a.timeout, "timeout", 10*time.Minute, "give up on a call after this long (0: never)")
	a.conn.flags(pf)

	root.AddCommand(a.serveCommand(), a.hashCommand(), a.matchCommand(), a.addCommand(),
		a.bankCommand(), a.itemCommand(), a.importCommand(), a.exportCommand(),
		a.tokenCommand(), a.auditCommand(), a.exchangeCommand(), a.evalCommand())
	root.AddCommand(a.versionCommand(), a.healthCommand(), a.configCommand(), a.statusCommand(), a.backupCommand(), a.restoreCommand()) // operations (ops.go, version.go, config.go)
	return root
}

// client returns the client, connecting on first use.
func (a *app) client() (*client.Client, error) {
	if a.c != nil {
		return a.c, nil
	}
	opts, err := a.conn.dialOptions(a.server, a.getenv(EnvToken))
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(a.server, append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)))...)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", a.server, err)
	}
	a.cc, a.c = conn, client.New(conn)
	return a.c, nil
}

// callCtx returns the context for one call, bounded by --timeout.
func (a *app) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.timeout)
}

// each runs fn for every argument, reporting each failure on its own line
// ("mediamatch: match x.jpg: invalid argument: ...") and going on with the
// next. It returns errReported if any failed.
func (a *app) each(ctx context.Context, verb string, args []string, fn func(ctx context.Context, arg string) error) error {
	failed := false
	for _, arg := range args {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cctx, cancel := a.callCtx(ctx)
		err := fn(cctx, arg)
		cancel()
		if err != nil {
			fmt.Fprintf(a.stderr, "mediamatch: %s %s: %s\n", verb, arg, a.explain(err))
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}
