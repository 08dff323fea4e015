package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/mediamatch/mediamatch/cmd/mediamatch/internal/eval"
	"github.com/mediamatch/mediamatch/fingerprint"
)

func (a *app) evalCommand() *cobra.Command {
	var (
		originals, groups, edits, exclude, ffmpeg, stills string
		share                                             float64
		seed                                              uint64
		jobs                                              int
		list, videos                                      bool
	)
	cmd := &cobra.Command{
		Use:   "eval --originals DIR [--videos]",
		Short: "Measure matching on edited copies of a folder of originals (no server needed)",
		Long: `eval measures how well mediamatch recognises edited copies of known images. It
runs here, without a server: it reads the images under --originals, banks a
seeded share of them (--bank-share) in a temporary index and keeps the others as
distractors, makes every edit of every original itself (seeded: the same files
on every run), hashes each variant as the service does and matches it with the
service's default query (a MatchMedia call without options: PDQ at threshold 31
with the rotated and mirrored variants and every view, MD5, SHA-256), and
again as the PDQ reference (and HMA) match: the whole frame's PDQ only, upright,
against items hashed without views.

Edits are encoded as PNG, losslessly, so that the edit itself is measured; only
jpeg-q30 is a JPEG (quality 30). 'original' is the file as it is; 'png' the
decoded pixels as PNG. 'eval --list-edits' lists them all.

Per edit it prints: recall (variants of banked originals that matched their
original), wrong (ones that matched another banked item), FP (variants of
distractors that matched anything), the reference's recall, unmatchable
(variants with no PDQ of quality 50 or more), the distances the matches
report, the closest distance of each variant to every other banked original by
the service's decision rule (the margin against false positives), and what
made the matches (whole frame, a transform, or the views of upload and item:
"trimmed~whole" for a padded copy); then each signal (PDQ, pHash, dHash) alone
at its default threshold, and the closest distance between every two originals.
--json prints the whole report as one object. Progress goes to stderr.

--groups reads a GROUPS.tsv (as in the shared media set) so that related files
do not count as unrelated: a positive group stands for one picture, its first
member; other groups' members and files in no group are originals each.

--videos evaluates the videos under --originals instead (.mp4, .m4v, .mov, .mkv,
.webm, .avi): ffmpeg makes each video edit (re-encodes, 360p, trim, the middle
8 s alone and inside a compilation, flip, letterbox, pillarbox, crop, corner
watermark, 15 fps, speed +-10%, grey, 9:16 reframe with blurred bars, one frame
as a PNG and as a JPEG; 'eval --videos --list-edits' lists them), each variant
is hashed and matched as the service does, and per edit it prints recall, "in
range" (matches whose span of the item, from the first to the last matched
keyframe, starts and ends within 2 s of the span of the original the variant
shows, or whose keyframe at that end covers it), wrong, FP and the same
upright (no rotated or mirrored variants), then each matched span. --stills DIR banks the photos there beside
the videos and queries each as itself and as 5 s videos of it (plain and
letterboxed): they must match the photo and nothing across kinds.`,
		Example: `  mediamatch eval --originals ./photos
  mediamatch eval --originals ../shared/media/images --groups ../shared/media/GROUPS.tsv --exclude 'orientation_'
  mediamatch eval --originals ./photos --edits 'crop|pad' --seed 2 --json > report.json
  mediamatch eval --videos --originals ../shared/media/videos --groups ../shared/media/GROUPS.tsv --bank-share 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hasher := fingerprint.New(fingerprint.Options{FFmpeg: ffmpeg})
			if videos {
				chosen, err := chooseEdits(a.stdout, eval.VideoEdits(), func(e eval.VideoEdit) (string, string) { return e.Name, e.Doc },
					edits, list, "video edit (see --videos --list-edits)")
				if chosen == nil {
					return err
				}
				origs, dir, err := a.evalOriginals(originals, groups, exclude, share, eval.ReadVideos)
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				var photos []eval.Original
				if stills != "" { // --exclude applies to both folders
					var work string
					if photos, work, err = a.evalOriginals(stills, groups, exclude, share, eval.ReadOriginals); err != nil {
						return err
					}
					os.RemoveAll(work)
				}
				p := newProgress(a.stderr, a.terminal(a.stderr), a.clock(), "eval", "items", 0)
				rep, err := eval.RunVideo(cmd.Context(), eval.VideoConfig{
					Originals: origs, Edits: chosen, BankShare: share, Seed: seed, Dir: dir, Workers: jobs, FFmpeg: ffmpeg,
					Hasher: hasher, Progress: p.of, Stills: photos,
				})
				p.finish("")
				if err != nil {
					return err
				}
				return a.evalReport(rep)
			}
			chosen, err := chooseEdits(a.stdout, eval.ImageEdits(), func(e eval.Edit) (string, string) { return e.Name, e.Doc },
				edits, list, "edit (see --list-edits)")
			if chosen == nil {
				return err
			}
			origs, dir, err := a.evalOriginals(originals, groups, exclude, share, eval.ReadOriginals)
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			p := newProgress(a.stderr, a.terminal(a.stderr), a.clock(), "eval", "items", 0)
			rep, err := eval.Run(cmd.Context(), eval.Config{
				Originals: origs, Edits: chosen, BankShare: share, Seed: seed, Dir: dir, Workers: jobs,
				Hasher: hasher, Progress: p.of,
			})
			p.finish("")
			if err != nil {
				return err
			}
			return a.evalReport(rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&originals, "originals", "", "folder of original images, or videos with --videos (read recursively)")
	f.StringVar(&groups, "groups", "", "GROUPS.tsv naming related files: a positive group counts as one original")
	f.StringVar(&exclude, "exclude", "", "leave out originals whose path under --originals matches this regexp")
	f.Float64Var(&share, "bank-share", 0.5, "share of the originals banked (1: all but GROUPS.tsv's distractors, at least one kept out); the others are distractors")
	f.Uint64Var(&seed, "seed", 1, "seed of the split and of every random choice of the edits")
	f.StringVar(&edits, "edits", "", "run only the edits whose name matches this regexp (default: all)")
	f.IntVar(&jobs, "jobs", 0, "variants made and hashed at once (0: one per CPU)")
	f.StringVar(&ffmpeg, "ffmpeg", "", `ffmpeg binary (default "ffmpeg" from PATH)`)
	f.BoolVar(&list, "list-edits", false, "list the edits and exit")
	f.StringVar(&stills, "stills", "", "with --videos: folder of photos banked as images beside the videos, queried as themselves and as videos of them")
	f.BoolVar(&videos, "videos", false, "evaluate the videos under --originals, with the video edits, instead of the images")
	return cmd
}

// chooseEdits returns the edits of all whose name matches pattern; with
// list it prints every edit's name and description to w instead and
// returns nil, as it does with an error. what names an edit in errors.
func chooseEdits[E any](w io.Writer, all []E, describe func(E) (name, doc string), pattern string, list bool, what string) ([]E, error) {
	if list {
		for _, e := range all {
			name, doc := describe(e)
			fmt.Fprintf(w, "%-18s %s\n", name, doc)
		}
		return nil, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, usageError{fmt.Errorf("--edits %q: %v", pattern, err)}
	}
	var chosen []E
	for _, e := range all {
		if name, _ := describe(e); re.MatchString(name) {
			chosen = append(chosen, e)
		}
	}
	if len(chosen) == 0 {
		return nil, usageError{fmt.Errorf("--edits %q matches no %s", pattern, what)}
	}
	return chosen, nil
}

// evalOriginals checks the flags that say which originals to read, reads
// them with read (printing its notes) and makes the temporary directory
// the evaluation works in; the caller removes it.
func (a *app) evalOriginals(dir, groups, exclude string, share float64,
	read func(dir, groups string, exclude *regexp.Regexp) ([]eval.Original, []string, error)) ([]eval.Original, string, error) {
	if dir == "" {
		return nil, "", usageError{fmt.Errorf("--originals DIR is required")}
	}
	var ex *regexp.Regexp
	if exclude != "" {
		var err error
		if ex, err = regexp.Compile(exclude); err != nil {
			return nil, "", usageError{fmt.Errorf("--exclude %q: %v", exclude, err)}
		}
	}
	if share <= 0 || share > 1 {
		return nil, "", usageError{fmt.Errorf("--bank-share %v, want more than 0 and at most 1", share)}
	}
	origs, notes, err := read(dir, groups, ex)
	if err != nil {
		return nil, "", err
	}
	for _, n := range notes {
		fmt.Fprintf(a.stderr, "eval: %s\n", n)
	}
	work, err := os.MkdirTemp("", "mediamatch-eval-")
	if err != nil {
		return nil, "", err
	}
	return origs, work, nil
}

// evalReport prints a report as JSON with --json, else as text.
func (a *app) evalReport(rep interface{ WriteText(io.Writer) error }) error {
	if a.json {
		return json.NewEncoder(a.stdout).Encode(rep)
	}
	return rep.WriteText(a.stdout)
}
