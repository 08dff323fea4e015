package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediamatch/mediamatch/client"
	"github.com/mediamatch/mediamatch/server/exchange"
)

func (a *app) exchangeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exchange",
		Short: "Fetch partner hash lists on a schedule (add: admin; the rest: curator)",
		Long: `An exchange is a partner's hash-sharing service that the server fetches into a
bank by itself, every interval (default 10 minutes, plus up to a tenth at random):
ThreatExchange threat_updates of a privacy group (GIFCT's hash-sharing database),
NCMEC's hash-sharing API, StopNCII, Tech Against Terrorism's TCAP, or any list file
that 'import' reads at a URL (refetched with ETag / If-Modified-Since).

Each page fetched is applied all or nothing, together with the checkpoint that
says where the next fetch resumes, in one write: a crash or kill at any point
resumes without losing or repeating an item. An exchange that refuses the
credentials (HTTP 401 or 403) is stopped: its status shows it, and it is not
fetched again until 'exchange resume'. Other failures are retried at the next
interval.

Adding and deleting exchanges needs an admin token; list, status, fetch, pause
and resume need a curator token. No command ever prints a credential.`,
		Example: `  mediamatch exchange add gifct --bank gifct --kind threatexchange --privacy-group 1234567890 \
      --credentials-file te-token.json --interval 5m
  mediamatch exchange add partner-a --bank partner-a --kind url --base-url https://partner.example/pdq.csv \
      --credentials-env PARTNER_A_TOKEN
  mediamatch exchange list
  mediamatch exchange status gifct
  mediamatch exchange fetch gifct
  mediamatch exchange pause gifct`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(a.exchangeAddCommand(), a.exchangeListCommand(), a.exchangeStatusCommand(), a.exchangeFetchCommand(),
		a.exchangeSetCommand("pause", "Stop the scheduled fetches of an exchange",
			"pause stops the scheduled fetches of an exchange; 'exchange fetch' still fetches it. Its bank keeps its items.",
			(*client.Client).PauseExchange),
		a.exchangeSetCommand("resume", "Restart the scheduled fetches of an exchange",
			"resume restarts the scheduled fetches of a paused exchange, and of one stopped because the\n"+
				"exchange refused its credentials (fix them first: delete and add the exchange again with\n"+
				"new ones, or change the server's environment variable).",
			(*client.Client).ResumeExchange),
		a.exchangeDeleteCommand())
	return cmd
}

func (a *app) exchangeAddCommand() *cobra.Command {
	var (
		spec                client.ExchangeSpec
		credFile            string
		privacyGroup, since string
		ideology, format    string
		apiVersion, partner string
		types               []string
		pageSize            int
		settings            []string
	)
	cmd := &cobra.Command{
		Use:   "add NAME --bank BANK --kind KIND [--base-url URL] [--credentials-file FILE | --credentials-env VAR]",
		Short: "Add an exchange (admin)",
		Long: `add configures an exchange that the server fetches into BANK (which must exist),
the first time at once, then every --interval.

KIND is one of:
  url             a list file in any format 'import' reads, at --base-url (required);
                  credentials optional (a bearer token, or username and password)
  threatexchange  Meta ThreatExchange threat_updates of --privacy-group (GIFCT);
                  credentials: the app's access token
  tcap            Tech Against Terrorism's TCAP (--ideology all, islamist, far-right);
                  credentials: a token, or username and password
  stopncii        StopNCII.org; credentials: subscription_key and function_key
  ncmec           NCMEC's hash-sharing API; credentials: username and password
--base-url defaults to the kind's public endpoint; it exists for proxies and tests.

Credentials are a JSON object of token, username, password, subscription_key and
function_key ({"token": "..."}), or a token alone. --credentials-file is read HERE,
by this command, and its content is sent to the server, which stores it in a file
of mode 0600 under its data dir (<data>/exchanges/NAME.credentials); the file must
itself be mode 0600. --credentials-env sends only the NAME of an environment
variable that the SERVER reads at each fetch: the secret never leaves the server's
host. No command prints credentials again.`,
		Example: `  mediamatch exchange add gifct --bank gifct --kind threatexchange --privacy-group 1234567890 --credentials-file te.json
  mediamatch exchange add tcap --bank tcap --kind tcap --ideology islamist --credentials-env TCAP_CREDENTIALS
  mediamatch exchange add mirror --bank partner-a --kind url --base-url https://partner.example/list.csv --format te-csv --interval 1h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Name = args[0]
			if credFile != "" && spec.CredentialsEnv != "" {
				return usageError{errors.New("--credentials-file and --credentials-env: give one")}
			}
			if spec.Interval < 0 || spec.Interval > 0 && spec.Interval < time.Second {
				return usageError{fmt.Errorf("--interval %v: want at least 1s", spec.Interval)}
			}
			spec.Settings = map[string]string{}
			for k, v := range map[string]string{"privacy_group": privacyGroup, "since": since, "ideology": ideology,
				"format": format, "api_version": apiVersion, "partner": partner, "types": strings.Join(types, ",")} {
				if v != "" {
					spec.Settings[k] = v
				}
			}
			if pageSize != 0 {
				spec.Settings["page_size"] = fmt.Sprint(pageSize)
			}
			for _, s := range settings {
				k, v, ok := strings.Cut(s, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--setting %q: want KEY=VALUE", s)}
				}
				spec.Settings[k] = v
			}
			if credFile != "" {
				secret, err := exchange.ReadCredentialsFile(credFile) // as the server reads its own
				if err != nil {
					return fmt.Errorf("exchange add: %w", err)
				}
				spec.CredentialsSecret = secret
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				e, err := c.AddExchange(ctx, spec)
				if err != nil {
					return fmt.Errorf("exchange add: %w", err)
				}
				if a.json {
					return printJSON(a.stdout, e)
				}
				fmt.Fprintf(a.stdout, "added exchange %s: %s into bank %s every %v, credentials %s\n",
					safeText(e.Name), safeText(e.Kind), safeText(e.Bank), e.Interval, safeText(e.Credentials))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Bank, "bank", "", "the bank the exchange's items go to (required; must exist)")
	f.StringVar(&spec.Kind, "kind", "", "url, threatexchange, tcap, stopncii or ncmec (required)")
	f.StringVar(&spec.BaseURL, "base-url", "", "the endpoint (default the kind's public one; required for url)")
	f.StringVar(&credFile, "credentials-file", "", "file (mode 0600) of the credentials, read here and stored by the server 0600")
	f.StringVar(&spec.CredentialsEnv, "credentials-env", "", "name of the server's environment variable holding the credentials")
	f.DurationVar(&spec.Interval, "interval", 0, "time between fetches, at least 1s (default the server's, 10m)")
	f.StringVar(&privacyGroup, "privacy-group", "", "threatexchange: the privacy group id")
	f.StringVar(&apiVersion, "api-version", "", "threatexchange: the Graph API version (default v21.0)")
	f.StringArrayVar(&types, "type", nil, "threatexchange: an indicator type to fetch (repeatable; default HASH_PDQ, HASH_MD5, HASH_VIDEO_MD5)")
	f.StringVar(&ideology, "ideology", "", "tcap: all (default), islamist or far-right")
	f.StringVar(&format, "format", "", "url: the list's format, as import's --format (default detected)")
	f.IntVar(&pageSize, "page-size", 0, "records asked for a page (threatexchange, stopncii; default the kind's)")
	f.StringVar(&partner, "partner", "", "Source.partner of records whose list names none (default the exchange's name)")
	f.StringVar(&since, "since", "", "threatexchange, stopncii, ncmec: where the first fetch starts, RFC 3339 (default the beginning)")
	f.StringArrayVar(&settings, "setting", nil, "another KEY=VALUE setting of the kind (repeatable)")
	cmd.MarkFlagRequired("bank")
	cmd.MarkFlagRequired("kind")
	return cmd
}

func (a *app) exchangeListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the exchanges with their last fetch",
		Long: `list prints every exchange (of the caller's banks, for a token limited to banks):
its kind, bank, interval, state (active, paused, stopped: credentials refused),
its last success and error.`,
		Example: `  mediamatch exchange list --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				es, err := c.ListExchanges(ctx)
				if err != nil {
					return fmt.Errorf("exchange list: %w", err)
				}
				if a.json {
					for _, e := range es {
						if err := printJSON(a.stdout, e); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKIND\tBANK\tINTERVAL\tSTATE\tLAST SUCCESS\tLAST ERROR")
				for _, e := range es {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", safeText(e.Name), safeText(e.Kind), safeText(e.Bank),
						e.Interval, exchangeState(e), when(e.Status.LastSuccess), safeText(clipText(e.Status.LastError, 80)))
				}
				return tw.Flush()
			})
		},
	}
}

func exchangeState(e client.Exchange) string {
	switch {
	case e.Status.Running:
		return "fetching"
	case e.Status.AuthFailed:
		return "stopped (credentials refused)"
	case e.Paused:
		return "paused"
	}
	return "active"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (a *app) exchangeStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show an exchange's last fetch, counts, checkpoint and lag",
		Long: `status prints an exchange's configuration (never its credentials: only where they
are) and how its fetches went: last attempt and success, last error, whether it
is stopped for refused credentials, items added, updated and deleted in all and
by the last run, its checkpoint (where the next fetch resumes) and its lag (the
time since the last success).`,
		Example: `  mediamatch exchange status gifct --json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				e, err := c.ExchangeStatus(ctx, args[0])
				if err != nil {
					return fmt.Errorf("exchange status: %w", err)
				}
				if a.json {
					return printJSON(a.stdout, e)
				}
				a.printExchange(e)
				return nil
			})
		},
	}
}

func (a *app) printExchange(e client.Exchange) {
	w := a.stdout
	st := e.Status
	fmt.Fprintf(w, "exchange     %s (%s) into bank %s, every %v, credentials %s\n", safeText(e.Name), safeText(e.Kind),
		safeText(e.Bank), e.Interval, safeText(e.Credentials))
	if e.BaseURL != "" {
		fmt.Fprintf(w, "base URL     %s\n", safeText(e.BaseURL))
	}
	fmt.Fprintf(w, "state        %s\n", exchangeState(e))
	fmt.Fprintf(w, "last attempt %s\n", when(st.LastAttempt))
	fmt.Fprintf(w, "last success %s", when(st.LastSuccess))
	if !st.LastSuccess.IsZero() {
		fmt.Fprintf(w, " (lag %v)", st.Lag.Round(time.Second))
	}
	fmt.Fprintln(w)
	if st.LastError != "" {
		fmt.Fprintf(w, "last error   %s\n", safeText(st.LastError))
	}
	fmt.Fprintf(w, "total        added %d, updated %d, deleted %d\n", st.Total.Added, st.Total.Updated, st.Total.Deleted)
	fmt.Fprintf(w, "last run     %d pages: added %d, updated %d, deleted %d, unchanged %d, rejected %d\n", st.LastRunPages,
		st.LastRun.Added, st.LastRun.Updated, st.LastRun.Deleted, st.LastRun.Unchanged, st.LastRunRejected)
	fmt.Fprintf(w, "checkpoint   %s\n", safeText(clipText(st.Checkpoint, 200)))
}

func (a *app) exchangeFetchCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "fetch NAME",
		Short: "Fetch an exchange now and print what the run did",
		Long: `fetch runs the exchange now (even if paused or stopped), page after page until it
is caught up, waits for the run to end and prints its summary: pages, items
added, updated and deleted, records rejected. A run already going on is waited
for first. A run that fails prints its error and exits with status 1; the pages
applied before the failure stay, with their checkpoint.`,
		Example: `  mediamatch exchange fetch gifct --json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				sum, err := c.FetchExchange(ctx, args[0])
				if err != nil {
					return fmt.Errorf("exchange fetch: %w", err)
				}
				if a.json {
					if err := printJSON(a.stdout, sum); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(a.stdout, "fetched %s: %d pages, added %d, updated %d, deleted %d, unchanged %d, rejected %d\n",
						safeText(args[0]), sum.Pages, sum.Counts.Added, sum.Counts.Updated, sum.Counts.Deleted, sum.Counts.Unchanged, sum.Rejected)
				}
				if sum.Error != "" {
					return fmt.Errorf("exchange fetch %s: the run stopped: %s", safeText(args[0]), safeText(sum.Error))
				}
				return nil
			})
		},
	}
}

func (a *app) exchangeSetCommand(use, short, long string, fn func(*client.Client, context.Context, string) (client.Exchange, error)) *cobra.Command {
	return &cobra.Command{
		Use:     use + " NAME",
		Short:   short,
		Long:    long,
		Example: "  mediamatch exchange " + use + " gifct",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				e, err := fn(c, ctx, args[0])
				if err != nil {
					return fmt.Errorf("exchange %s: %w", use, err)
				}
				if a.json {
					return printJSON(a.stdout, e)
				}
				fmt.Fprintf(a.stdout, "exchange %s: %s\n", safeText(e.Name), exchangeState(e))
				return nil
			})
		},
	}
}

func (a *app) exchangeDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an exchange and its stored credentials (admin)",
		Long: `delete removes an exchange, its checkpoint and the credentials file the server
stored for it. Its bank and the items fetched into it stay (delete the bank to
remove them). A run going on is waited for.`,
		Example: `  mediamatch exchange delete gifct`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				if err := c.DeleteExchange(ctx, args[0]); err != nil {
					return fmt.Errorf("exchange delete: %w", err)
				}
				if a.json {
					return printJSON(a.stdout, map[string]any{"deleted": args[0]})
				}
				fmt.Fprintf(a.stdout, "deleted exchange %s\n", safeText(args[0]))
				return nil
			})
		},
	}
}
