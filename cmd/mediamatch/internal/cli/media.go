package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/client"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index/hashlist"
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
func localHash(ctx context.Context, ffmpeg, path string, o fingerprint.HashOptions) (mediamatch.Media, error) {
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
		return mediamatch.Media{}, err
	}
	return fingerprint.New(fingerprint.Options{FFmpeg: ffmpeg}).HashWith(ctx, data, o)
}

// The line formats of `hash --signal` and `hash --format`.
const (
	formatLines = "lines" // hash,quality,path: the PDQ reference hasher's output
	formatVPDQ  = "vpdq"  // frame,quality,pdqhex,timestamp: vPDQ's per-frame text
)

func (a *app) hashCommand() *cobra.Command {
	var (
		local          bool
		ffmpeg         string
		signal, format string
	)
	cmd := &cobra.Command{
		Use:   "hash FILE...",
		Short: "Print the signals (hashes) of files",
		Long: `hash prints the signals of each file without matching or storing it: the
exact MD5 and SHA-256 of the file, then the perceptual hashes (PDQ with its
quality, pHash, dHash) of each keyframe, one line per signal, in lowercase hex.
Videos have one keyframe per run of near-identical frames, with its time range.

--signal pdq prints only the PDQ hashes, in the line format of Meta's PDQ
reference hasher (pdq-photo-hasher), so that outputs can be compared with a
partner's and lists made for 'add --hashes':

  hash,quality,path

one line for an image, one per keyframe for a video. --format vpdq prints a
video (one FILE) in vPDQ's per-frame text format instead, as partners exchange
video hashes and as 'add --vpdq' reads: one line per keyframe,

  frame,quality,pdqhex,timestamp_seconds

By default the server hashes the files; --local hashes them here (videos need
ffmpeg). "-" reads standard input. With --json, one object per file with every
signal and each keyframe's local features ("features": base64 of 37 bytes a
feature, as export's jsonl; the plain output counts them); --signal and
--format do not apply.`,
		Example: `  mediamatch hash photo.jpg clip.mp4
  mediamatch hash --signal pdq photos/*.jpg > partner-list.txt
  mediamatch hash --local --format vpdq clip.mp4 > clip.vpdq.txt
  mediamatch hash --local --json photo.jpg | jq -r '.keyframes[0].signals[0].hash'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			switch format = strings.ToLower(format); format {
			case "":
			case formatVPDQ:
				if signal != "" && !strings.EqualFold(signal, string(mediamatch.PDQ)) {
					return usageError{fmt.Errorf("--format vpdq prints PDQ hashes, want no --signal or --signal pdq")}
				}
				if len(files) != 1 {
					return usageError{fmt.Errorf("--format vpdq takes one FILE, got %d: a vPDQ file describes one video", len(files))}
				}
			default:
				return usageError{fmt.Errorf("--format %q: want vpdq", format)}
			}
			if signal != "" {
				if !strings.EqualFold(signal, string(mediamatch.PDQ)) {
					return usageError{fmt.Errorf("--signal %q: want pdq, the type with the reference hasher's line format", signal)}
				}
				if format == "" {
					format = formatLines
				}
			}
			if a.json && format != "" {
				return usageError{fmt.Errorf("--json prints every signal: drop --signal and --format")}
			}
			return a.each(cmd.Context(), "hash", files, func(ctx context.Context, file string) error {
				var m mediamatch.Media
				var err error
				if local {
					m, err = localHash(ctx, ffmpeg, file, fingerprint.HashOptions{})
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
				switch {
				case a.json:
					return printJSON(a.stdout, struct {
						File string `json:"file"`
						*jsonMedia
					}{file, toJSONMedia(m)})
				case format == formatVPDQ:
					return mediamatch.WriteVPDQ(a.stdout, m)
				case format == formatLines:
					return printHashLines(a.stdout, file, m)
				}
				fmt.Fprintf(a.stdout, "%s: %s\n", file, describeMedia(m))
				printSignals(a.stdout, m)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&local, "local", false, "hash here instead of on the server")
	cmd.Flags().StringVar(&ffmpeg, "ffmpeg", "", "ffmpeg binary for --local (default: from PATH)")
	cmd.Flags().StringVar(&signal, "signal", "", "pdq: print only the PDQ hashes, as the reference hasher's hash,quality,path lines")
	cmd.Flags().StringVar(&format, "format", "", "vpdq: print the video's PDQ hashes as vPDQ lines frame,quality,pdqhex,timestamp")
	return cmd
}

// printHashLines writes m's PDQ hashes as the reference hasher's
// "hash,quality,path" lines: one per keyframe (one for an image). It fails,
// having written nothing, if m has no PDQ hash.
func printHashLines(w io.Writer, file string, m mediamatch.Media) error {
	var b bytes.Buffer
	for _, k := range m.Keyframes {
		for _, s := range k.Signals {
			if s.Type == mediamatch.PDQ && s.Transform == mediamatch.TransformNone && s.View.Whole() {
				if err := mediamatch.WriteHashLine(&b, s, file); err != nil {
					return err
				}
			}
		}
	}
	if b.Len() == 0 {
		return fmt.Errorf("no PDQ hash (an image under 5 pixels a side?)")
	}
	_, err := w.Write(b.Bytes())
	return err
}

func (a *app) matchCommand() *cobra.Command {
	var (
		banks, thresholds, signals []string
		maxResults                 int
		localHashing, upright      bool
		ffmpeg                     string
	)
	cmd := &cobra.Command{
		Use:   "match FILE...",
		Short: "Match files against the known items",
		Long: fmt.Sprintf(`match checks each file against the known items and prints what it matched:
bank/item, the signal, the Hamming distance and the threshold applied, the
item's labels, and for videos the share of frames matched and the matched time
ranges. Exit status 0 whether or not anything matched; non-zero on errors.
Callers below curator (matcher tokens) get no distance ("within threshold %[1]d";
-1 in JSON) and may not raise thresholds over the server's ceilings.

By default files match by PDQ (threshold %[1]d of 256 bits; frames of PDQ quality
under %[2]d never match) and by exact MD5 and SHA-256. --signal picks the types,
e.g. --signal phash --signal dhash for the 64-bit goimagehash hashes (threshold
%[3]d); --threshold overrides a type's threshold.

The 7 rotated and mirrored variants of each PDQ hash are looked up too, so that
a flipped or rotated copy matches; the match then shows how the file is turned
relative to the item (e.g. "transform flipy (mirrored left to right)").
--upright matches the file only as it is. Besides the whole picture, the file's
views are matched: the picture with uniform or blurred borders and bars trimmed,
and regions that leave out caption and logo bands or that a crop keeps; a match
made by a view says so (e.g. "upload trimmed to 0,125-1000,875 ~ item whole"
for a padded copy; regions in thousandths of the width and height).

Images also match by their local features: corners described by 256-bit
descriptors, which survive crops, pads and screenshots that move the picture in
the frame. A local match needs many features to agree on one placement of the
file in the item (translation and scale), and shows how many did and where
("local features, 41 points, item region 80,40-900,940"). Items added from media
have local features; items from partner lists (PDQ only) do not.

Large files (over 4 MiB, e.g. videos) are streamed. With --local-hash the file
is hashed here and only its signals are sent (no media leaves this machine;
videos need ffmpeg). "-" reads standard input. With --json, one object per file:
{"file": ..., "matches": [{"item_id", "bank", "signal", "distance", "threshold",
"transform", "labels", "query_coverage", "item_coverage", "frames", ...}]}.`,
			mediamatch.PDQ.DefaultThreshold(), mediamatch.PDQ.MinQuality(), mediamatch.PHash.DefaultThreshold()),
		Example: `  mediamatch match upload.jpg
  mediamatch match --bank tve --threshold pdq=40 --json a.jpg b.mp4
  mediamatch match --signal phash --threshold phash=10 upload.jpg
  mediamatch match --upright --local-hash upload.mp4`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			opts := client.MatchOptions{Banks: banks, MaxResults: maxResults, Upright: upright}
			var err error
			if opts.Thresholds, err = parseThresholds("--threshold", thresholds); err != nil {
				return err
			}
			for _, s := range signals {
				t := mediamatch.SignalType(strings.ToLower(s))
				if !t.Valid() && t != mediamatch.Local {
					return usageError{fmt.Errorf("--signal %q: want one of %s, %s", s, signalNames(), mediamatch.Local)}
				}
				opts.Signals = append(opts.Signals, t)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.each(cmd.Context(), "match", files, func(ctx context.Context, file string) error {
				var ms []mediamatch.Match
				if localHashing {
					m, err := localHash(ctx, ffmpeg, file, fingerprint.HashOptions{Dihedral: !upright})
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
	f.StringArrayVar(&signals, "signal", nil, "match with this signal type, e.g. phash (repeatable; default pdq, local, md5, sha256; local: the local features of images added from media)")
	f.IntVar(&maxResults, "max-results", 0, "most matches per file, 1..1000 (default 100)")
	f.BoolVar(&upright, "upright", false, "match only the file as it is, not its rotated and mirrored copies (PDQ)")
	f.Bool("dihedral", true, "deprecated: rotated and mirrored copies are matched by default (see --upright)")
	_ = f.MarkHidden("dihedral")
	f.BoolVar(&localHashing, "local-hash", false, "hash here and send only the signals")
	f.StringVar(&ffmpeg, "ffmpeg", "", "ffmpeg binary for --local-hash (default: from PATH)")
	return cmd
}

// parseThresholds parses "phash=10" flags.
func parseThresholds(flag string, flags []string) (map[mediamatch.SignalType]int, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := map[mediamatch.SignalType]int{}
	for _, f := range flags {
		name, val, ok := strings.Cut(f, "=")
		t := mediamatch.SignalType(strings.ToLower(strings.TrimSpace(name)))
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if !ok || err != nil || !t.Valid() {
			return nil, usageError{fmt.Errorf("%s %q: want TYPE=BITS with TYPE one of %s, e.g. phash=10",
				flag, f, signalNames())}
		}
		out[t] = n // the server checks the range and names the field
	}
	return out, nil
}

func signalNames() string {
	var names []string
	for _, t := range mediamatch.SignalTypes() {
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
		spec          client.ItemSpec
		labels        []string
		localHashing  bool
		ffmpeg        string
		hashes, vpdqF string
	)
	cmd := &cobra.Command{
		Use:   "add --bank BANK [--id ID] [--label KEY=VALUE]... (FILE | --hashes LIST | --vpdq FILE)",
		Short: "Add known items to a bank",
		Long: fmt.Sprintf(`add stores known items in BANK with the given labels (e.g. entity, behaviour,
source). It takes exactly one source:

FILE: add hashes the file and stores its signals as one item; the file itself is
never stored. The item id defaults to the file's base name (e.g. "video.mp4"
for /tmp/video.mp4). Large files are streamed. With --local-hash the file is
hashed here and only its signals are sent.

--hashes LIST: adds one image item per line of a partner's list of PDQ hashes
("-" reads standard input). A line is a hash (64 hex digits), "pdq <hash>", or
the PDQ reference hasher's "hash,quality,filename"; blank lines and lines
starting with '#' are skipped. The id is the filename's base name, else
"pdq-" and the hash's first 16 hex digits; hashes listed without a quality get
quality 100. Every --label applies to every item. A bad line (wrong length, not
hex, another signal type, a repeated id, an id the bank holds already) fails
the command, naming the line, and nothing is added. A hash of quality under %d
is a bad line too: it would never match.

--vpdq FILE: adds one video item from a vPDQ per-frame file
("frame,quality,pdqhex,timestamp" lines, as 'hash --format vpdq' prints). The
id defaults to the file's base name without ".txt".

--hashes and --vpdq send their items in one import: all or nothing, so that a
refused item, a lost connection or a crash leaves the bank as it was.

Ids are 1..128 bytes of printable ASCII without spaces or '/', unique within
the bank.`,
			mediamatch.PDQ.MinQuality()),
		Example: `  mediamatch add --bank tve --label entity=example --label source=partner-a clip.mp4
  mediamatch add --bank tve --id poster-17 --local-hash poster.jpg
  mediamatch add --bank partner-a --label source=partner-a --hashes partner-a-pdq.txt
  mediamatch add --bank tve --id clip.mp4 --vpdq clip.mp4.txt`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sources := 0
			for _, set := range []bool{len(args) == 1, hashes != "", vpdqF != ""} {
				if set {
					sources++
				}
			}
			if sources != 1 {
				return usageError{fmt.Errorf("want exactly one of FILE, --hashes LIST and --vpdq FILE")}
			}
			if localHashing && len(args) == 0 {
				return usageError{fmt.Errorf("--local-hash hashes a FILE; --hashes and --vpdq are hashes already")}
			}
			var err error
			if spec.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			switch {
			case hashes != "":
				if spec.ID != "" {
					return usageError{fmt.Errorf("--id does not apply to --hashes: each line names its item")}
				}
				return a.addHashList(cmd.Context(), spec, hashes)
			case vpdqF != "":
				if spec.ID == "" {
					if vpdqF == "-" {
						return usageError{fmt.Errorf("--id is required when reading standard input")}
					}
					spec.ID = strings.TrimSuffix(filepath.Base(vpdqF), ".txt")
				}
				return a.addVPDQ(cmd.Context(), spec, vpdqF)
			}
			file := args[0]
			if spec.ID == "" {
				if file == "-" {
					return usageError{fmt.Errorf("--id is required when reading standard input")}
				}
				spec.ID = filepath.Base(file)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.each(cmd.Context(), "add", args, func(ctx context.Context, file string) error {
				var it mediamatch.Item
				if localHashing {
					m, err := localHash(ctx, ffmpeg, file, fingerprint.HashOptions{})
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
				return a.printAdded(file, 0, it)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Bank, "bank", "", "bank to add to (required)")
	f.StringVar(&spec.ID, "id", "", "item id (default: the file's base name)")
	f.StringArrayVar(&labels, "label", nil, "label KEY=VALUE (repeatable)")
	f.BoolVar(&localHashing, "local-hash", false, "hash here and send only the signals")
	f.StringVar(&ffmpeg, "ffmpeg", "", "ffmpeg binary for --local-hash (default: from PATH)")
	f.StringVar(&hashes, "hashes", "", `add one item per PDQ hash in this list ("-": standard input)`)
	f.StringVar(&vpdqF, "vpdq", "", `add one video item from this vPDQ per-frame file ("-": standard input)`)
	cmd.MarkFlagRequired("bank")
	return cmd
}

// printAdded reports one added item: "added bank/id ..." or, with --json,
// {"file": ..., "line": ..., "item": ...} (line only for hash lists; the
// item as its jsonl record, see itemJSON).
func (a *app) printAdded(file string, line int, it mediamatch.Item) error {
	if a.json {
		item, err := itemJSON(it)
		if err != nil {
			return err
		}
		return printJSON(a.stdout, struct {
			File string          `json:"file"`
			Line int             `json:"line,omitempty"`
			Item json.RawMessage `json:"item"`
		}{file, line, item})
	}
	fmt.Fprintf(a.stdout, "added %s\n", describeItem(it))
	return nil
}

// openInput opens a file, or standard input for "-".
func openInput(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	return os.Open(name)
}

// addHashList adds one item per line of a PDQ hash list, in one import
// (addItems): all of them, or none if a line is bad, an id is in the bank
// already, the server refuses an item, or the call fails.
func (a *app) addHashList(ctx context.Context, spec client.ItemSpec, list string) error {
	f, err := openInput(list)
	if err != nil {
		return err
	}
	hs, err := parseHashList(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("add --hashes %s: %w", list, err)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	items := make([]mediamatch.Item, len(hs))
	for i, h := range hs {
		items[i] = h.item(spec.Bank, spec.Labels)
	}
	added, err := a.addItems(ctx, c, spec.Bank, items, func(i int) string {
		return fmt.Sprintf("line %d (%s)", hs[i].line, hs[i].id)
	})
	if err != nil {
		return fmt.Errorf("add --hashes %s: %w", list, err)
	}
	for i, h := range hs {
		if err := a.printAdded(list, h.line, added[i]); err != nil {
			return err
		}
	}
	if !a.json {
		fmt.Fprintf(a.stdout, "added %s to bank %s from %s\n", plural(len(added), "item", "items"), spec.Bank, list)
	}
	return nil
}

// addVPDQ adds one video item from a vPDQ per-frame file, in an import
// (addItems).
func (a *app) addVPDQ(ctx context.Context, spec client.ItemSpec, file string) error {
	f, err := openInput(file)
	if err != nil {
		return err
	}
	m, err := mediamatch.ParseVPDQ(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("add --vpdq %s: %w", file, err)
	}
	if !slices.ContainsFunc(m.Keyframes, func(k mediamatch.Keyframe) bool { return slices.ContainsFunc(k.Signals, k.Matchable) }) {
		return fmt.Errorf("add --vpdq %s: no frame has a pdq hash of quality at least %d, want one that can match", file, mediamatch.PDQ.MinQuality())
	}
	// The server's rule, checked before anything is sent.
	if err := mediamatch.ValidateItemID("", spec.ID); err != nil {
		return fmt.Errorf("add --vpdq %s: item id: %w", file, err)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	added, err := a.addItems(ctx, c, spec.Bank, []mediamatch.Item{{Bank: spec.Bank, ID: spec.ID, Labels: spec.Labels, Media: m}}, nil)
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return fmt.Errorf("add --vpdq %s: item %s (%s): %w", file, spec.ID, plural(len(m.Keyframes), "frame", "frames"), err)
	case err != nil:
		return fmt.Errorf("add --vpdq %s: %w", file, err)
	}
	return a.printAdded(file, 0, added[0])
}

// addItems adds new items to bank in one import (client.Import of the
// jsonl format, which carries every field): the server stages them and
// commits all or nothing, so that a refused item, a lost connection or a
// crash of either side leaves the bank as it was or holding them all. It
// returns the items as stored, in order.
//
// An import replaces an item that exists already, where add refuses it:
// addItems first fails, having changed nothing, if the bank holds one of
// the ids (errors.Is(err, client.ErrAlreadyExists)). An item that another
// client adds between that check and the commit is replaced, with a
// warning. where(i), if set, names the i'th item in errors, e.g.
// "line 3 (x.jpg)". The ids must be unique.
func (a *app) addItems(ctx context.Context, c *client.Client, bank string, items []mediamatch.Item, where func(i int) string) ([]mediamatch.Item, error) {
	name := func(i int, err error) error {
		if where == nil {
			return err
		}
		return fmt.Errorf("%s: %w", where(i), err)
	}
	cctx, cancel := a.callCtx(ctx)
	defer cancel()
	i, err := firstExisting(cctx, c, bank, items)
	if err != nil {
		return nil, err
	}
	if i >= 0 {
		return nil, name(i, existsError{bank: bank, id: items[i].ID})
	}
	var list bytes.Buffer
	w, err := hashlist.NewWriter(&list, hashlist.JSONL)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if err := w.Write(it); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	res, err := c.Import(cctx, bank, &list, client.ImportOptions{Format: string(hashlist.JSONL)})
	if err != nil {
		if i, rerr := recordRefused(err, len(items)); rerr != nil {
			return nil, name(i, rerr)
		}
		return nil, err
	}
	if res.Updated > 0 {
		fmt.Fprintf(a.stderr, "mediamatch: bank %s: replaced %s that another client added meanwhile\n",
			bank, plural(int(res.Updated), "item", "items"))
	}
	added := make([]mediamatch.Item, len(items))
	for i, it := range items {
		if added[i], err = c.GetItem(cctx, bank, it.ID); err != nil {
			return nil, fmt.Errorf("all %s were added, but reading back %s failed: %w",
				plural(len(items), "item", "items"), it.ID, err)
		}
	}
	return added, nil
}

// firstExisting returns the index of the first of items whose id bank
// holds, or -1 if none. It reads no item if the bank is empty.
func firstExisting(ctx context.Context, c *client.Client, bank string, items []mediamatch.Item) (int, error) {
	b, err := c.GetBank(ctx, bank)
	if err != nil || b.ItemCount == 0 {
		return -1, err
	}
	for i, it := range items {
		_, err := c.GetItem(ctx, bank, it.ID)
		switch {
		case err == nil:
			return i, nil
		case !errors.Is(err, client.ErrNotFound):
			return -1, err
		}
	}
	return -1, nil
}

// existsError is an item that add would add, found in the bank already:
// "already exists: item "x.jpg" in bank "tve"", as AddItem says it.
type existsError struct{ bank, id string }

func (e existsError) Error() string {
	return fmt.Sprintf("already exists: item %q in bank %q", e.id, e.bank)
}

func (e existsError) Unwrap() error { return client.ErrAlreadyExists }

// recordRefused returns, for an import of n items refused for its records
// ("line 3: label key ... want 1..64"; a jsonl line is an item), the
// index of the first item refused and the server's reason for it as an
// error that unwraps to err. It returns nil for other errors.
func recordRefused(err error, n int) (int, error) {
	var ce *client.Error
	if !errors.As(err, &ce) {
		return 0, nil
	}
	for _, v := range ce.Violations {
		var line int
		if _, serr := fmt.Sscanf(v.Description, "line %d:", &line); serr != nil || line < 1 || line > n {
			continue
		}
		_, reason, _ := strings.Cut(v.Description, ": ")
		return line - 1, &refusedError{err: ce, reason: reason}
	}
	return 0, nil
}

// refusedError is the server's refusal of one item of an import, said as
// "invalid argument: <reason>".
type refusedError struct {
	err    *client.Error
	reason string
}

func (e *refusedError) Error() string {
	return (&client.Error{Code: e.err.Code, Message: e.reason}).Error()
}

func (e *refusedError) Unwrap() error { return e.err }
