package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"github.com/spf13/cobra"

	"github.com/mediamatch/mediamatch/client"
)

func (a *app) bankCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bank",
		Short: "Create, list and delete banks",
		Long: `A bank is a named list of known items, usually one per source or partner list.
Bank names are 1..64 characters of [a-z0-9_.-] starting with a letter or digit.`,
		Example: `  mediamatch bank create tve --description "partner list A"
  mediamatch bank list
  mediamatch bank delete tve`,
		Args: cobra.NoArgs,
	}
	var description string
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an empty bank",
		Long:    "create makes a new, empty bank. It fails if a bank of that name exists.",
		Example: `  mediamatch bank create tve --description "partner list A"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				b, err := c.CreateBank(ctx, args[0], description)
				if err != nil {
					return fmt.Errorf("bank create %s: %w", args[0], err)
				}
				if a.json {
					return printJSON(a.stdout, toJSONBank(b))
				}
				fmt.Fprintf(a.stdout, "created bank %s\n", b.Name)
				return nil
			})
		},
	}
	create.Flags().StringVar(&description, "description", "", "free text for people, up to 1024 bytes")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the banks",
		Long: `list prints every bank with its item count (enabled or not), creation time and
description; with --json, one object per bank.`,
		Example: `  mediamatch bank list --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				if !a.json {
					fmt.Fprintln(tw, "NAME\tITEMS\tCREATED\tDESCRIPTION")
				}
				for b, err := range c.ListBanks(ctx) {
					if err != nil {
						return fmt.Errorf("bank list: %w", err)
					}
					if a.json {
						if err := printJSON(a.stdout, toJSONBank(b)); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", safeText(b.Name), b.ItemCount, b.CreateTime.Local().Format("2006-01-02 15:04"), safeText(b.Description))
				}
				return tw.Flush()
			})
		},
	}

	del := &cobra.Command{
		Use:     "delete NAME...",
		Short:   "Delete banks and all their items",
		Long:    "delete removes each bank and every item in it. Its items stop matching at once.",
		Example: `  mediamatch bank delete old-list`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.each(cmd.Context(), "bank delete", args, func(ctx context.Context, name string) error {
				if err := c.DeleteBank(ctx, name); err != nil {
					return err
				}
				if a.json {
					return printJSON(a.stdout, map[string]any{"bank": name, "deleted": true})
				}
				fmt.Fprintf(a.stdout, "deleted bank %s\n", name)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

// withClient runs fn with the client and a context bounded by --timeout.
func (a *app) withClient(ctx context.Context, fn func(context.Context, *client.Client) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	cctx, cancel := a.callCtx(ctx)
	defer cancel()
	return fn(cctx, c)
}

func (a *app) itemCommand() *cobra.Command {
	var bank string
	cmd := &cobra.Command{
		Use:   "item",
		Short: "Show, list, disable, enable and delete known items",
		Long: `item manages the known items of a bank (added with 'mediamatch add'). A disabled
item is kept but never matches, until it is enabled again.`,
		Example: `  mediamatch item list --bank tve
  mediamatch item get --bank tve clip.mp4
  mediamatch item disable --bank tve clip.mp4`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&bank, "bank", "", "the items' bank (required)")
	cmd.MarkPersistentFlagRequired("bank")

	get := &cobra.Command{
		Use:   "get --bank BANK ID...",
		Short: "Show items with their signals",
		Long: `get prints each item: kind, format, size, state and labels, then its signals
one per line (with --json, one jsonl record per item, as export writes them).`,
		Example: `  mediamatch item get --bank tve clip.mp4 poster-17`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.each(cmd.Context(), "item get", ids, func(ctx context.Context, id string) error {
				it, err := c.GetItem(ctx, bank, id)
				if err != nil {
					return err
				}
				if a.json {
					return printItem(a.stdout, it)
				}
				fmt.Fprintln(a.stdout, describeItem(it))
				printSignals(a.stdout, it.Media)
				return nil
			})
		},
	}

	list := &cobra.Command{
		Use:     "list --bank BANK",
		Short:   "List a bank's items",
		Long:    "list prints one line per item of the bank, in id order (with --json, one jsonl record per item, as export writes them: the output imports back).",
		Example: `  mediamatch item list --bank tve`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				for it, err := range c.ListItems(ctx, bank) {
					if err != nil {
						return fmt.Errorf("item list %s: %w", bank, err)
					}
					if a.json {
						if err := printItem(a.stdout, it); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintln(a.stdout, describeItem(it))
				}
				return nil
			})
		},
	}

	update := func(verb, short, long string, fn func(ctx context.Context, c *client.Client, id string) (mediamatch.Item, error)) *cobra.Command {
		return &cobra.Command{
			Use:     verb + " --bank BANK ID...",
			Short:   short,
			Long:    long,
			Example: fmt.Sprintf("  mediamatch item %s --bank tve clip.mp4", verb),
			Args:    cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, ids []string) error {
				c, err := a.client()
				if err != nil {
					return err
				}
				return a.each(cmd.Context(), "item "+verb, ids, func(ctx context.Context, id string) error {
					it, err := fn(ctx, c, id)
					if err != nil {
						return err
					}
					if a.json {
						return printItem(a.stdout, it)
					}
					fmt.Fprintln(a.stdout, describeItem(it))
					return nil
				})
			},
		}
	}
	disable := update("disable", "Stop items from matching",
		"disable keeps each item but stops it from matching, from the next match request on.",
		func(ctx context.Context, c *client.Client, id string) (mediamatch.Item, error) {
			return c.Disable(ctx, bank, id)
		})
	enable := update("enable", "Let disabled items match again",
		"enable lets each disabled item match again, from the next match request on.",
		func(ctx context.Context, c *client.Client, id string) (mediamatch.Item, error) {
			return c.Enable(ctx, bank, id)
		})

	del := &cobra.Command{
		Use:     "delete --bank BANK ID...",
		Short:   "Delete items",
		Long:    "delete removes each item and its signals; it stops matching at once.",
		Example: `  mediamatch item delete --bank tve clip.mp4`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.each(cmd.Context(), "item delete", ids, func(ctx context.Context, id string) error {
				if err := c.DeleteItem(ctx, bank, id); err != nil {
					return err
				}
				if a.json {
					return printJSON(a.stdout, map[string]any{"bank": bank, "id": id, "deleted": true})
				}
				fmt.Fprintf(a.stdout, "deleted %s/%s\n", bank, id)
				return nil
			})
		},
	}
	cmd.AddCommand(get, list, disable, enable, del)
	return cmd
}
