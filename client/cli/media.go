package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediamatch/mediamatch/client"
	"github.com/mediamatch/mediamatch/fingerprint"
)

// A file is sent in one message up to client.DefaultUnaryLimit and
// streamed above it (and always when read from stdin, "-"), so that large
// videos are never read whole into the CLI's memory.

// upload calls whole with the file's bytes if it is small, else stream
// with a reader over it.
func upload(path string, whole func([]byte) error, stream func(io.Reader) error) error {
	if path == "-" {
		return stream(os.Stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("is a directory, want a file")
	}
	if fi.Size() > client.DefaultUnaryLimit {
		return stream(f)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	return whole(data)
}

// localHash hashes a file on this machine.
func localHash(ctx context.Context, ffmpeg, path string) (fingerprint.Media, error) {
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return fingerprint.Media{}, err
	}
	return fingerprint.New(fingerprint.Options{FFmpeg: ffmpeg}).Hash(ctx, data)
}

func (a *app) hashCommand() *cobra.Command {
	var (
		local  bool
		ffmpeg string
	)
	cmd := &cobra.Command{
		Use:   "hash FILE...",
		Short: "Print the signals (hashes) of files",
		Long: `hash prints the signals of each file without matching or storing it: the
exact MD5 and SHA-256 of the file, then the perceptual hashes (pHash, dHash) of
each keyframe, one line per signal, in lowercase hex. Videos have one keyframe
per run of near-identical frames, with its time range.

By default the server hashes the files; --local hashes them here (videos need
ffmpeg). "-" reads standard input. With --json, one object per file.`,
		Example: `  mediamatch hash photo.jpg clip.mp4
  mediamatch hash --local --json photo.jpg | jq -r '.keyframes[0].signals[0].hash'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return a.each(cmd.Context(), "hash", files, func(ctx context.Context, file string) error {
				var m fingerprint.Media
				var err error
				if local {
					m, err = localHash(ctx, ffmpeg, file)
				} else {
					var c *client.Client
					if c, err = a.client(); err != nil {
						return err
					}
					err = upload(file,
						func(b []byte) (err error) { m, err = c.Hash(ctx, b); return err },
						func(r io.Reader) (err error) { m, err = c.HashReader(ctx, r); return err })
				}
				if err != nil {
					return err
				}
				if a.json {
					return printJSON(a.stdout, struct {
						File string `json:"file"`
						*jsonMedia
					}{file, toJSONMedia(m)})
				}
				fmt.Fprintf(a.stdout, "%s: %s\n", file, describeMedia(m))
				printSignals(a.stdout, m)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&local, "local", false, "hash here instead of on the server")
	cmd.Flags().StringVar(&ffmpeg, "ffmpeg", "", "ffmpeg binary for --local (default: from PATH)")
	return cmd
}

func (a *app) matchCommand() *cobra.Command {
	var (
		banks, thresholds, signals []string
		maxResults                 int
		localHashing               bool
		ffmpeg                     string
	)
	cmd := &cobra.Command{
		Use:   "match FILE...",
		Short: "Match files against the known items",
		Long: `match checks each file against the known items and prints what it matched:
bank/item, the signal, the Hamming distance and the threshold applied, the
item's labels, and for videos the share of frames matched and the matched time
ranges. Exit status 0 whether or not anything matched; non-zero on errors.

Large files (over 4 MiB, e.g. videos) are streamed. With --local-hash the file
is hashed here and only its signals are sent (no media leaves this machine;
videos need ffmpeg). "-" reads standard input. With --json, one object per file:
{"file": ..., "matches": [{"item_id", "bank", "signal", "distance", "threshold",
"labels", "query_coverage", "item_coverage", "frames", ...}]}.`,
		Example: `  mediamatch match upload.jpg
  mediamatch match --bank tve --threshold phash=10 --json a.jpg b.mp4
  mediamatch match --local-hash upload.mp4`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			opts := client.MatchOptions{Banks: banks, MaxResults: maxResults}
			var err error
			if opts.Thresholds, err = parseThresholds(thresholds); err != nil {
				return err
			}
			for _, s := range signals {
				t := fingerprint.SignalType(strings.ToLower(s))
				if !t.Valid() {
					return usageError{fmt.Errorf("--signal %q: want one of %s", s, signalNames())}
				}
				opts.Signals = append(opts.Signals, t)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.each(cmd.Context(), "match", files, func(ctx context.Context, file string) error {
				var ms []client.Match
				if localHashing {
					m, err := localHash(ctx, ffmpeg, file)
					if err != nil {
						return err
					}
					if ms, err = c.MatchSignals(ctx, m, opts); err != nil {
						return err
					}
				} else {
					var res client.MatchResult
					err := upload(file,
						func(b []byte) (err error) { res, err = c.Match(ctx, b, opts); return err },
						func(r io.Reader) (err error) { res, err = c.MatchReader(ctx, r, opts); return err })
					if err != nil {
						return err
					}
					ms = res.Matches
				}
				if a.json {
					return printJSON(a.stdout, struct {
						File    string      `json:"file"`
						Matches []jsonMatch `json:"matches"`
					}{file, toJSONMatches(ms)})
				}
				printMatches(a.stdout, file, ms)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&banks, "bank", nil, "search only this bank (repeatable; default: every bank)")
	f.StringArrayVar(&thresholds, "threshold", nil, "largest matching distance for a signal, e.g. phash=10 (repeatable)")
	f.StringArrayVar(&signals, "signal", nil, "match only with this signal type, e.g. phash (repeatable)")
	f.IntVar(&maxResults, "max-results", 0, "most matches per file, 1..1000 (default 100)")
	f.BoolVar(&localHashing, "local-hash", false, "hash here and send only the signals")
	f.StringVar(&ffmpeg, "ffmpeg", "", "ffmpeg binary for --local-hash (default: from PATH)")
	return cmd
}

// parseThresholds parses "phash=10" flags.
func parseThresholds(flags []string) (map[fingerprint.SignalType]int, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := map[fingerprint.SignalType]int{}
	for _, f := range flags {
		name, val, ok := strings.Cut(f, "=")
		t := fingerprint.SignalType(strings.ToLower(strings.TrimSpace(name)))
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if !ok || err != nil || !t.Valid() {
			return nil, usageError{fmt.Errorf("--threshold %q: want TYPE=BITS with TYPE one of %s, e.g. phash=10",
				f, signalNames())}
		}
		out[t] = n // the server checks the range and names the field
	}
	return out, nil
}

func signalNames() string {
	var names []string
	for _, t := range fingerprint.SignalTypes() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// parseLabels parses "key=value" flags.
func parseLabels(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("--label %q: want KEY=VALUE, e.g. entity=example", f)}
		}
		out[k] = v
	}
	return out, nil
}

func (a *app) addCommand() *cobra.Command {
	var (
		spec         client.ItemSpec
		labels       []string
		localHashing bool
		ffmpeg       string
	)
	cmd := &cobra.Command{
		Use:   "add --bank BANK [--id ID] [--label KEY=VALUE]... FILE",
		Short: "Add a known item to a bank",
		Long: `add hashes FILE and stores its signals in BANK as a known item with the given
labels (e.g. entity, behaviour, source). The file itself is never stored.

The item id defaults to the file's base name (e.g. "video.mp4" for
/tmp/video.mp4); ids are 1..128 bytes of printable ASCII without spaces or '/',
unique within the bank. Large files are streamed. With --local-hash the file is
hashed here and only its signals are sent.`,
		Example: `  mediamatch add --bank tve --label entity=example --label source=partner-a clip.mp4
  mediamatch add --bank tve --id poster-17 --local-hash poster.jpg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if spec.ID == "" {
				if file == "-" {
					return usageError{fmt.Errorf("--id is required when reading standard input")}
				}
				spec.ID = filepath.Base(file)
			}
			var err error
			if spec.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.each(cmd.Context(), "add", args, func(ctx context.Context, file string) error {
				var it client.Item
				if localHashing {
					m, err := localHash(ctx, ffmpeg, file)
					if err != nil {
						return err
					}
					if it, err = c.AddItemSignals(ctx, spec, m); err != nil {
						return err
					}
				} else {
					err := upload(file,
						func(b []byte) (err error) { it, err = c.AddItem(ctx, spec, b); return err },
						func(r io.Reader) (err error) { it, err = c.AddItemReader(ctx, spec, r); return err })
					if err != nil {
						return err
					}
				}
				if a.json {
					return printJSON(a.stdout, struct {
						File string   `json:"file"`
						Item jsonItem `json:"item"`
					}{file, toJSONItem(it, true)})
				}
				fmt.Fprintf(a.stdout, "added %s\n", describeItem(it))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Bank, "bank", "", "bank to add to (required)")
	f.StringVar(&spec.ID, "id", "", "item id (default: the file's base name)")
	f.StringArrayVar(&labels, "label", nil, "label KEY=VALUE (repeatable)")
	f.BoolVar(&localHashing, "local-hash", false, "hash here and send only the signals")
	f.StringVar(&ffmpeg, "ffmpeg", "", "ffmpeg binary for --local-hash (default: from PATH)")
	cmd.MarkFlagRequired("bank")
	return cmd
}
