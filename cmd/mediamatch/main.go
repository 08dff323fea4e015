// Command mediamatch runs the mediamatch service (`mediamatch serve`) and is
// its command-line client (hash, match, add, bank, item); see
// `mediamatch --help` and package internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mediamatch/mediamatch/cmd/mediamatch/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
