package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/client"
)

// `mediamatch import` and `mediamatch export`: partner hash lists in and
// out of a bank, streamed in both directions, with progress on stderr.

// jsonImport is the --json form of an import's summary.
type jsonImport struct {
	Bank      string   `json:"bank"`
	File      string   `json:"file"`
	Format    string   `json:"format"`
	Detected  bool     `json:"detected"`
	Added     int64    `json:"added"`
	Updated   int64    `json:"updated"`
	Deleted   int64    `json:"deleted"`
	Unchanged int64    `json:"unchanged"`
	Rejected  int64    `json:"rejected"`
	Errors    []string `json:"errors"`
}

// jsonExport is the --json form of an export's summary.
type jsonExport struct {
	Bank   string `json:"bank"`
	Format string `json:"format"`
	File   string `json:"file,omitempty"`
	Items  int64  `json:"items"`
	Bytes  int64  `json:"bytes"`
}

func (a *app) importCommand() *cobra.Command {
	var (
		bank, format, partner, id string
		skipInvalid               bool
	)
	cmd := &cobra.Command{
		Use:   "import --bank BANK [--format FORMAT] [--skip-invalid] FILE|-",
		Short: "Import a partner's hash list into a bank",
		Long: fmt.Sprintf(`import streams a partner's hash list into a bank ("-" reads standard input).
The formats (--format; by default detected from the first bytes):

  lines       python-threatexchange's local file: <hash> or <signal_type> <hash>
  pdq         the PDQ reference hasher's output: hash,quality,filename
  te-csv      python-threatexchange's dataset CSV (signal_type,signal_str,...)
  te-simple   ThreatExchange's simple CSV (indicator,indicator_id,...)
  te-updates  ThreatExchange threat_updates JSON, with deletes
  tcap        Tech Against Terrorism's TCAP hash list, with deletes
  ncmec       NCMEC's hash-sharing XML, with deletes
  stopncii    StopNCII's hash records
  vpdq        vPDQ's per-frame file: the whole file is one video item (--id)
  jsonl       mediamatch's own export, every field of every item

The import is all or nothing: the bank changes only once the whole list has
been read, and matches see the change at once; interrupting it (Ctrl-C, a
lost connection, a server crash) leaves the bank as it was. Items keep their
ids across imports, so importing the same list again changes nothing, and a
newer list updates what changed and applies its deletes.

A bad record (a hash of the wrong length, an unknown signal type, a PDQ
quality under %d, ...) fails the import, naming the lines (the first 100),
and nothing is imported; --skip-invalid imports the others and lists what
was rejected.

While sending, progress goes to standard error: on a terminal a bar with the
bytes sent, rate and time left, else a line every 2 seconds. At the end a
summary goes to standard output: the format (and whether it was detected),
then how many items were added, updated, deleted, unchanged and rejected;
with --json, one object. --timeout bounds the whole import (0: no limit, for
very long lists).`,
			mediamatch.PDQ.MinQuality()),
		Example: `  mediamatch import --bank gifct --partner "GIFCT" hashes.csv
  mediamatch import --bank tcap --format tcap --skip-invalid tcap-2024-08.json
  curl -s "$TE_URL" | mediamatch import --bank te --format te-updates -
  mediamatch import --bank clips --format vpdq --id clip-17 clip-17.vpdq.txt
  mediamatch --json import --bank copy export.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				res, err := a.importFile(ctx, c, bank, file, client.ImportOptions{
					Format: format, SkipInvalid: skipInvalid, Partner: partner, ItemID: id})
				if err != nil {
					return importError(file, err)
				}
				if a.json {
					return printJSON(a.stdout, jsonImport{Bank: bank, File: file, Format: res.Format, Detected: res.Detected,
						Added: res.Added, Updated: res.Updated, Deleted: res.Deleted, Unchanged: res.Unchanged,
						Rejected: res.Rejected, Errors: nonNilStrings(res.Errors)})
				}
				detected := ""
				if res.Detected {
					detected = " (detected)"
				}
				fmt.Fprintf(a.stdout, "format: %s%s\n", res.Format, detected)
				fmt.Fprintf(a.stdout, "bank %s: %d added, %d updated, %d deleted, %d unchanged, %d rejected\n",
					bank, res.Added, res.Updated, res.Deleted, res.Unchanged, res.Rejected)
				for _, e := range res.Errors {
					fmt.Fprintf(a.stdout, "  rejected %s\n", safeText(e))
				}
				if more := res.Rejected - int64(len(res.Errors)); more > 0 {
					fmt.Fprintf(a.stdout, "  ... and %d more rejected\n", more)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&bank, "bank", "", "the bank to import into (required; it must exist)")
	f.StringVar(&format, "format", "", "the list's format (default: detected from its first bytes)")
	f.BoolVar(&skipInvalid, "skip-invalid", false, "import the valid records and list the bad ones, instead of failing")
	f.StringVar(&partner, "partner", "", "the partner the list is from, recorded in each item's source (for lists that do not name one)")
	f.StringVar(&id, "id", "", "the item id of a vpdq list (default: derived from its frames)")
	cmd.MarkFlagRequired("bank")
	return cmd
}

// importFile imports file ("-": standard input) with progress on stderr.
func (a *app) importFile(ctx context.Context, c *client.Client, bank, file string, opts client.ImportOptions) (client.ImportResult, error) {
	var (
		r     io.Reader = os.Stdin
		total int64
		label = "import"
	)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return client.ImportResult{}, err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return client.ImportResult{}, err
		}
		if fi.IsDir() {
			return client.ImportResult{}, errors.New("is a directory, want a hash list")
		}
		if fi.Mode().IsRegular() {
			total = fi.Size()
		}
		r, label = f, "import "+filepath.Base(file)
	}
	p := newProgress(a.stderr, a.terminal(a.stderr), a.clock(), label, "bytes", total)
	opts.Progress = p.update
	res, err := c.Import(ctx, bank, r, opts)
	if err == nil {
		p.finish("done")
	} else {
		p.finish("failed")
	}
	return res, err
}

// importError adds a hint to an import's failure.
func importError(file string, err error) error {
	var ce *client.Error
	if errors.As(err, &ce) && len(ce.Violations) > 0 && strings.HasPrefix(ce.Violations[0].Description, "line ") {
		return fmt.Errorf("import %s: %w\n(--skip-invalid imports the other records)", file, err)
	}
	return fmt.Errorf("import %s: %w", file, err)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *app) exportCommand() *cobra.Command {
	var bank, format, output string
	cmd := &cobra.Command{
		Use:   "export --bank BANK [--format FORMAT] [-o FILE]",
		Short: "Export a bank as a hash list",
		Long: `export writes a bank's items as a hash list, to standard output or to FILE
(-o; written to a temporary file beside it and renamed at the end, so that a
failed export leaves no half-written FILE). The formats (--format):

  jsonl       the default: every field of every item, for 'mediamatch import'
              into another bank or server, which gives the same items back
  lines       <signal_type> <hash> per signal (python-threatexchange)
  pdq         hash,quality,filename per PDQ hash (the PDQ reference hasher)
  te-csv      python-threatexchange's dataset CSV
  te-simple   ThreatExchange's simple CSV, one row per item
  te-updates  ThreatExchange threat_updates JSON, one object per item
  vpdq        vPDQ's per-frame file, for a bank holding one video

Partner formats carry only what they can hold (items without such a hash are
left out). On a terminal the items written so far go to standard error. With
-o a summary (items and bytes written) goes to standard output, and without
-o to standard error; with --json, as one object.`,
		Example: `  mediamatch export --bank gifct -o gifct.jsonl
  mediamatch export --bank gifct --format pdq > gifct-pdq.txt
  mediamatch export --bank gifct | mediamatch --server other:7878 import --bank gifct -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				sum, err := a.export(ctx, c, bank, format, output)
				if err != nil {
					return fmt.Errorf("export %s: %w", bank, err)
				}
				w := a.stderr
				if output != "" {
					w = a.stdout
				}
				if a.json {
					return printJSON(w, sum)
				}
				dest := "standard output"
				if output != "" {
					dest = output
				}
				fmt.Fprintf(w, "exported %d items of bank %s as %s to %s (%s)\n", sum.Items, bank, sum.Format, dest, formatBytes(sum.Bytes))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&bank, "bank", "", "the bank to export (required)")
	f.StringVar(&format, "format", "jsonl", "the list's format: jsonl, lines, pdq, te-csv, te-simple, te-updates or vpdq")
	f.StringVarP(&output, "output", "o", "", "write to FILE instead of standard output")
	cmd.MarkFlagRequired("bank")
	return cmd
}

// export writes the bank to output ("" for stdout) and returns a summary.
func (a *app) export(ctx context.Context, c *client.Client, bank, format, output string) (jsonExport, error) {
	sum := jsonExport{Bank: bank, Format: format, File: output}
	var (
		dst io.Writer = a.stdout
		tmp *os.File
	)
	if output != "" {
		var err error
		tmp, err = os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*.tmp")
		if err != nil {
			return sum, err
		}
		defer func() {
			if tmp != nil { // not renamed: an error
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		dst = tmp
	}
	cw := &countingWriter{w: dst}
	// Progress only on a terminal: the list itself may be on stdout.
	tty := a.terminal(a.stderr)
	p := newProgress(a.stderr, tty, a.clock(), "export "+bank, "items", 0)
	err := c.Export(ctx, bank, format, cw, func(items int64) {
		sum.Items = items
		if tty {
			p.update(items)
		}
	})
	sum.Bytes = cw.n
	if err != nil {
		return sum, err
	}
	p.finish("done")
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			return sum, err
		}
		if err := tmp.Close(); err != nil {
			return sum, err
		}
		if err := os.Rename(tmp.Name(), output); err != nil {
			return sum, err
		}
		tmp = nil
	}
	return sum, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// clock returns the app's clock.
func (a *app) clock() func() time.Time {
	if a.now != nil {
		return a.now
	}
	return time.Now
}

// terminal reports whether w is a terminal, for progress display.
func (a *app) terminal(w io.Writer) bool {
	if a.isTerminal != nil {
		return a.isTerminal(w)
	}
	return isTerminal(w)
}
