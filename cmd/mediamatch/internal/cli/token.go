package cli

import (
	"context"
	"fmt"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"github.com/spf13/cobra"

	"github.com/mediamatch/mediamatch/client"
	"github.com/mediamatch/mediamatch/server"
)

// jsonToken is a token in --json output; never its secret.
type jsonToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Banks      []string   `json:"banks,omitempty"`
	CreateTime time.Time  `json:"create_time"`
	ExpireTime *time.Time `json:"expire_time,omitempty"`
	RevokeTime *time.Time `json:"revoke_time,omitempty"`
}

func toJSONToken(t mediamatch.Token) jsonToken {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return jsonToken{ID: t.ID, Name: t.Name, Role: string(t.Role), Banks: t.Banks, CreateTime: t.CreateTime,
		ExpireTime: opt(t.ExpireTime), RevokeTime: opt(t.RevokeTime)}
}

// describeToken returns "tok_... (name): role admin, every bank, never expires".
func describeToken(t mediamatch.Token) string {
	banks := "every bank"
	if len(t.Banks) > 0 {
		banks = "banks " + safeTexts(t.Banks, ",")
	}
	state := "never expires"
	switch {
	case !t.RevokeTime.IsZero():
		state = "revoked " + t.RevokeTime.Local().Format("2006-01-02 15:04")
	case !t.ExpireTime.IsZero():
		state = "expires " + t.ExpireTime.Local().Format("2006-01-02 15:04")
	}
	return fmt.Sprintf("%s (%s): role %s, %s, %s", safeText(t.ID), safeText(t.Name), safeText(string(t.Role)), banks, state)
}

func (a *app) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens (admin)",
		Long: `A token lets a program or person call the server with a role: matcher (match
and hash only: an upload path), moderator (and read banks and items), curator
(and change them, import and export lists) or admin (and tokens and the audit
log), optionally limited to some banks. Clients send it with --token or
$` + EnvToken + `. The server keeps only a hash of each secret: a lost secret
cannot be shown again; revoke the token and create another.`,
		Example: `  mediamatch token create --data ./data --name ops --role admin   # server stopped: the first admin token
  export ` + EnvToken + `=mmt_...
  mediamatch token create --name upload-gateway --role matcher --bank tve --expires-in 2160h
  mediamatch token list
  mediamatch token revoke tok_0123456789abcdef`,
		Args: cobra.NoArgs,
	}
	var (
		spec      client.TokenSpec
		role      string
		expiresIn time.Duration
		dataDir   string
	)
	create := &cobra.Command{
		Use:   "create --name NAME --role ROLE",
		Short: "Create a token and print its secret once",
		Long: `create makes a token and prints its secret, once, alone on standard output (the
description goes to standard error), so that it can be captured:

  TOKEN=$(mediamatch token create --name gw --role matcher)

With --json, one object with the token and its secret goes to standard output.

With --data, the token is made directly in that data dir, without a server:
this is how the first admin token is made. The server must be stopped (the
store allows one process); the audit log records it as made offline by the
local user.`,
		Example: `  mediamatch token create --data /var/lib/mediamatch --name ops --role admin
  mediamatch token create --name upload-gateway --role matcher --bank tve --bank partner-a --expires-in 2160h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec.Role = mediamatch.Role(strings.ToLower(role))
			if !validRole(spec.Role) {
				return usageError{fmt.Errorf("--role %q: want matcher, moderator, curator or admin", role)}
			}
			if expiresIn < 0 {
				return usageError{fmt.Errorf("--expires-in %v: want a positive duration, or 0 for never", expiresIn)}
			}
			if expiresIn > 0 {
				spec.ExpireTime = a.clock()().Add(expiresIn)
			}
			var (
				tok    mediamatch.Token
				secret string
				err    error
			)
			if dataDir != "" {
				tok, secret, err = a.createTokenOffline(cmd.Context(), dataDir, spec)
			} else {
				err = a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
					tok, secret, err = c.CreateToken(ctx, spec)
					return err
				})
			}
			if err != nil {
				return fmt.Errorf("token create: %w", err)
			}
			if a.json {
				return printJSON(a.stdout, map[string]any{"token": toJSONToken(tok), "secret": secret})
			}
			fmt.Fprintf(a.stderr, "created token %s\nits secret follows, shown only now: keep it safe\n", describeToken(tok))
			fmt.Fprintln(a.stdout, secret)
			return nil
		},
	}
	cf := create.Flags()
	cf.StringVar(&spec.Name, "name", "", "who or what the token is for (required)")
	cf.StringVar(&role, "role", "", "matcher, moderator, curator or admin (required)")
	cf.StringArrayVar(&spec.Banks, "bank", nil, "a bank the token may use (repeatable; default every bank)")
	cf.DurationVar(&expiresIn, "expires-in", 0, "how long the token works, e.g. 720h (default: until revoked)")
	cf.StringVar(&dataDir, "data", "", "make the token in this data dir directly, with the server stopped")
	create.MarkFlagRequired("name")
	create.MarkFlagRequired("role")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List the tokens",
		Long:    "list prints every token, revoked and expired ones included, oldest first; never a secret.",
		Example: `  mediamatch token list --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				toks, err := c.ListTokens(ctx)
				if err != nil {
					return fmt.Errorf("token list: %w", err)
				}
				if a.json {
					for _, t := range toks {
						if err := printJSON(a.stdout, toJSONToken(t)); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tROLE\tBANKS\tCREATED\tSTATE")
				now := a.clock()()
				for _, t := range toks {
					banks := "all"
					if len(t.Banks) > 0 {
						banks = safeTexts(t.Banks, ",")
					}
					state := "active"
					switch {
					case !t.RevokeTime.IsZero():
						state = "revoked " + t.RevokeTime.Local().Format("2006-01-02 15:04")
					case !t.ExpireTime.IsZero() && !now.Before(t.ExpireTime):
						state = "expired " + t.ExpireTime.Local().Format("2006-01-02 15:04")
					case !t.ExpireTime.IsZero():
						state = "expires " + t.ExpireTime.Local().Format("2006-01-02 15:04")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", safeText(t.ID), safeText(t.Name), safeText(string(t.Role)), banks,
						t.CreateTime.Local().Format("2006-01-02 15:04"), state)
				}
				return tw.Flush()
			})
		},
	}

	revoke := &cobra.Command{
		Use:     "revoke ID...",
		Short:   "Revoke tokens",
		Long:    "revoke makes each token stop working at once. A revoked token cannot be restored.",
		Example: `  mediamatch token revoke tok_0123456789abcdef`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.each(cmd.Context(), "token revoke", ids, func(ctx context.Context, id string) error {
				t, err := c.RevokeToken(ctx, id)
				if err != nil {
					return err
				}
				if a.json {
					return printJSON(a.stdout, toJSONToken(t))
				}
				fmt.Fprintf(a.stdout, "revoked %s\n", describeToken(t))
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func validRole(r mediamatch.Role) bool {
	for _, v := range mediamatch.Roles() {
		if v == r {
			return true
		}
	}
	return false
}

// createTokenOffline makes a token in dataDir without a server.
func (a *app) createTokenOffline(ctx context.Context, dataDir string, spec client.TokenSpec) (mediamatch.Token, string, error) {
	actor := "unknown user"
	if u, err := user.Current(); err == nil {
		actor = u.Username
	}
	t, secret, err := server.CreateTokenOffline(ctx, dataDir, mediamatch.Token{Name: spec.Name, Role: mediamatch.Role(spec.Role),
		Banks: spec.Banks, ExpireTime: spec.ExpireTime}, actor)
	if err != nil {
		return mediamatch.Token{}, "", err
	}
	return mediamatch.Token{ID: t.ID, Name: t.Name, Role: mediamatch.Role(t.Role), Banks: t.Banks,
		CreateTime: t.CreateTime, ExpireTime: t.ExpireTime, RevokeTime: t.RevokeTime}, secret, nil
}

func (a *app) auditCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "audit",
		Short: "Print the audit log (admin)",
		Long: `audit prints the audit log, oldest first: every call of a curator or admin RPC
(creating and deleting banks, adding, changing and deleting items, imports,
exports, tokens), with who made it (token id and name, client certificate CN),
the role, the RPC, its target and its outcome. Reads and matches are not
recorded. With --json, one object per entry.`,
		Example: `  mediamatch audit
  mediamatch --json audit | jq 'select(.action == "BankService/ExportSignals")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				if !a.json {
					fmt.Fprintln(tw, "TIME\tACTOR\tROLE\tACTION\tTARGET\tOUTCOME")
				}
				for e, err := range c.ListAudit(ctx) {
					if err != nil {
						tw.Flush()
						return fmt.Errorf("audit: %w", err)
					}
					if a.json {
						if err := printJSON(a.stdout, map[string]any{"time": e.Time, "actor": e.Actor, "role": e.Role,
							"action": e.Action, "target": e.Target, "detail": e.Detail}); err != nil {
							return err
						}
						continue
					}
					// Only the first line of a detail (an import's bad
					// records follow on others); every field escaped.
					detail, _, _ := strings.Cut(e.Detail, "\n")
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"),
						safeText(e.Actor), safeText(string(e.Role)), safeText(e.Action), safeText(e.Target), safeText(detail))
				}
				return tw.Flush()
			})
		},
	}
}
