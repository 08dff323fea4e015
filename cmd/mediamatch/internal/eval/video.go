package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// RangeTolerance is how far each end of the matched span of the item (the
// hull of a match's ItemRanges) may be from the span of the original that
// the variant shows, for a match to count as in range (see inRange).
const RangeTolerance = 2 * time.Second

// inRange reports whether the item keyframes that a match paired (fs)
// place the span shown: each end of their hull is within RangeTolerance
// of the shown span's, or the keyframe at that end covers the shown end.
// The second case is there because a keyframe stands for a run of
// near-identical frames, all hashed as its first: a still shown for 6 s,
// or one frame of it, matches the whole run, and the item cannot say more.
func inRange(fs []mediamatch.FrameMatch, shown mediamatch.TimeRange) bool {
	if len(fs) == 0 {
		return false
	}
	first, last := fs[0].ItemTime, fs[0].ItemTime
	for _, f := range fs[1:] {
		if r := f.ItemTime; r.Start < first.Start {
			first = r
		}
		if r := f.ItemTime; r.End > last.End {
			last = r
		}
	}
	covers := func(r mediamatch.TimeRange, t time.Duration) bool { return r.Start <= t && t <= r.End }
	return (near(first.Start, shown.Start) || covers(first, shown.Start)) &&
		(near(last.End, shown.End) || covers(last, shown.End))
}

// VideoConfig is one evaluation of videos.
type VideoConfig struct {
	// Originals are video files (any container ffmpeg and the hasher
	// read); Distractor as in Config.
	Originals []Original
	// Edits are applied to every original; nil means VideoEdits.
	Edits []VideoEdit
	// BankShare, Seed, Hasher, Workers and Progress are as in Config.
	BankShare float64
	Seed      uint64
	Hasher    *fingerprint.Hasher
	Workers   int
	Progress  func(done, total int)
	// Dir is an empty temporary directory for the index and the variants
	// (each removed once hashed); the caller removes it.
	Dir string
	// FFmpeg is the ffmpeg binary that makes the variants; "" means
	// "ffmpeg" from PATH.
	FFmpeg string
	// Stills are photos (still images) for the other direction, from
	// images to videos: they are split like the videos (BankShare, Seed)
	// and banked as image items beside the videos, and each is queried as
	// itself and as the videos of StillEdits (nil means StillEdits()).
	// Videos showing a banked photo must match it, and nothing else may
	// match across the two kinds. None: no such rows.
	Stills     []Original
	StillEdits []VideoEdit
}

// VideoReport is the outcome of RunVideo.
type VideoReport struct {
	Seed        uint64        `json:"seed"`
	BankShare   float64       `json:"bank_share"`
	Banked      []string      `json:"banked"`
	Distractors []string      `json:"distractors"`
	Results     []VideoResult `json:"results"` // one per edit, in the order of VideoConfig.Edits
	// BankedStills and DistractorStills are the photos of
	// VideoConfig.Stills; StillResults has a row per StillEdits.
	BankedStills     []string      `json:"banked_stills,omitempty"`
	DistractorStills []string      `json:"distractor_stills,omitempty"`
	StillResults     []VideoResult `json:"still_results,omitempty"`
	Cost             Cost          `json:"cost"`
}

// VideoResult is what one video edit does to matching.
type VideoResult struct {
	Edit              string   `json:"edit"`
	Doc               string   `json:"doc"`
	Queries           int      `json:"queries"`
	DistractorQueries int      `json:"distractor_queries"`
	Failed            int      `json:"failed,omitempty"`
	Errors            []string `json:"errors,omitempty"`
	// Default is as in Result: the service's default query (rotated and
	// mirrored variants and every view); Upright the same without the
	// rotated and mirrored variants (MatchOptions.upright).
	Default Outcome `json:"default"`
	Upright Outcome `json:"upright"`
	// InRange counts the variants of banked originals whose default
	// query matched their original with both ends of the matched item
	// span within RangeTolerance of the span they show, UprightInRange
	// the same for the upright query; for a photo's item, which has no
	// span, every match is in range.
	InRange        int `json:"in_range"`
	UprightInRange int `json:"upright_in_range"`
	// Via counts the default query's right matches by what made them (see
	// Result.Via).
	Via map[string]int `json:"via,omitempty"`
	// Ranges describe, per variant of a banked original, the span it
	// shows and the item span its match covered.
	Ranges   []string `json:"ranges,omitempty"`
	Mistakes []string `json:"mistakes,omitempty"`
}

// Result returns the result of the named edit, and whether there is one.
func (r *VideoReport) Result(edit string) (VideoResult, bool) {
	for _, res := range r.Results {
		if res.Edit == edit {
			return res, true
		}
	}
	return VideoResult{}, false
}

// RunVideo makes every video edit of every original with ffmpeg, matches
// the variants against the banked originals and returns the report. It
// fails if an original cannot be hashed, or the index fails; a variant
// that cannot be made or hashed counts as not matched
// (VideoResult.Failed).
func RunVideo(ctx context.Context, cfg VideoConfig) (*VideoReport, error) {
	start := time.Now()
	if cfg.Edits == nil {
		cfg.Edits = VideoEdits()
	}
	if cfg.BankShare == 0 {
		cfg.BankShare = 0.5
	}
	if cfg.Hasher == nil {
		cfg.Hasher = fingerprint.New(fingerprint.Options{FFmpeg: cfg.FFmpeg})
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	origs, err := prepare(cfg.Originals, "videos", "v", cfg.BankShare, cfg.Seed)
	if err != nil {
		return nil, err
	}
	var stills []*original
	if len(cfg.Stills) > 0 {
		if stills, err = prepare(cfg.Stills, "photos", "s", cfg.BankShare, cfg.Seed); err != nil {
			return nil, err
		}
		if cfg.StillEdits == nil {
			cfg.StillEdits = StillEdits()
		}
	}
	n := len(origs)

	media := filepath.Join(cfg.Dir, "media")
	if err := os.Mkdir(media, 0o700); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	ix, err := openBank(ctx, filepath.Join(cfg.Dir, "index"))
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	all := append(slices.Clip(origs), stills...)
	paths := make([]string, len(all))
	for i, o := range all {
		paths[i] = filepath.Join(media, o.id+strings.ToLower(filepath.Ext(o.Name)))
		if err := os.WriteFile(paths[i], o.Data, 0o600); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		if o.media, err = cfg.Hasher.Hash(ctx, o.Data); err != nil {
			return nil, fmt.Errorf("eval: hash %s: %w", o.Name, err)
		}
		if want := map[bool]mediamatch.Kind{true: mediamatch.KindVideo, false: mediamatch.KindImage}[i < n]; o.media.Kind != want {
			return nil, fmt.Errorf("eval: %s is a %s, want a %s", o.Name, o.media.Kind, want)
		}
		if o.banked {
			if _, err := ix.AddItem(ctx, mediamatch.Item{Bank: bankName, ID: o.id, Media: o.media}); err != nil {
				return nil, fmt.Errorf("eval: bank %s: %w", o.Name, err)
			}
		}
	}
	hashOriginals := time.Since(start)

	hashStart := time.Now()
	variants, err := forEachVariant(ctx, cfg.Workers, len(cfg.Edits), n, cfg.Progress, func(e, o int) videoVariant {
		out := filepath.Join(media, fmt.Sprintf("e%02d-%s", e, origs[o].id))
		return makeVideoVariant(ctx, cfg, cfg.Edits[e], origs[o], paths[o], out)
	})
	if err != nil {
		return nil, err
	}
	stillVariants, err := forEachVariant(ctx, cfg.Workers, len(cfg.StillEdits), len(stills), nil, func(e, o int) videoVariant {
		out := filepath.Join(media, fmt.Sprintf("p%02d-%s", e, stills[o].id))
		return makeVideoVariant(ctx, cfg, cfg.StillEdits[e], stills[o], paths[n+o], out)
	})
	if err != nil {
		return nil, err
	}
	hashVariants := time.Since(hashStart)

	rep := &VideoReport{Seed: cfg.Seed, BankShare: cfg.BankShare}
	byID := make(map[string]*original, len(all))
	for _, o := range all {
		byID[o.id] = o
	}
	rep.Banked, rep.Distractors = names(origs)
	rep.BankedStills, rep.DistractorStills = names(stills)
	matchStart := time.Now()
	queries := 0
	for e, ed := range cfg.Edits {
		res, q, err := scoreVideo(ctx, ix, ed, origs, variants[e], byID)
		if err != nil {
			return nil, err
		}
		queries += q
		rep.Results = append(rep.Results, res)
	}
	for e, ed := range cfg.StillEdits {
		res, q, err := scoreVideo(ctx, ix, ed, stills, stillVariants[e], byID)
		if err != nil {
			return nil, err
		}
		queries += q
		rep.StillResults = append(rep.StillResults, res)
	}
	variantsMade := n*len(cfg.Edits) + len(stills)*len(cfg.StillEdits)
	rep.Cost = Cost{
		Originals: len(all), Edits: len(cfg.Edits) + len(cfg.StillEdits), Variants: variantsMade, Matches: queries, Workers: cfg.Workers,
		HashOriginals: hashOriginals, HashVariants: hashVariants, Match: time.Since(matchStart), Total: time.Since(start),
	}
	return rep, nil
}

// scoreVideo matches the variants of edit ed (one per original, in the
// order of origs) with the default and the upright query and counts what
// they matched. It returns the count of Match calls.
func scoreVideo(ctx context.Context, ix *index.Index, ed VideoEdit, origs []*original, variants []videoVariant,
	byID map[string]*original) (VideoResult, int, error) {
	res := VideoResult{Edit: ed.Name, Doc: ed.Doc}
	queries := 0
	for i, o := range origs {
		v := variants[i]
		if o.banked {
			res.Queries++
		} else {
			res.DistractorQueries++
		}
		if v.err != nil {
			res.Failed++
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", o.Name, v.err))
			continue
		}
		for _, upright := range []bool{false, true} {
			ms, err := ix.Match(ctx, index.Query{Media: v.media, Upright: upright})
			if err != nil {
				return res, queries, fmt.Errorf("eval: match %s of %s: %w", ed.Name, o.Name, err)
			}
			queries++
			right, wrong := false, false
			for _, m := range ms {
				if m.ItemID != o.id {
					wrong = true
					if len(res.Mistakes) < maxMistakes {
						res.Mistakes = append(res.Mistakes, fmt.Sprintf("%s matched %s (%s %d%s)",
							o.Name, byID[m.ItemID].Name, m.Signal, m.Distance, map[bool]string{true: ", upright"}[upright]))
					}
					continue
				}
				right = true
				in := true
				var got mediamatch.TimeRange
				ok := false
				if m.ItemKind == mediamatch.KindVideo {
					got, ok = hull(m.ItemRanges)
					in = ok && inRange(m.Frames, v.source)
				}
				if upright {
					if in {
						res.UprightInRange++
					}
					continue
				}
				if res.Via == nil {
					res.Via = make(map[string]int)
				}
				res.Via[via(m)]++
				if in {
					res.InRange++
				}
				if m.ItemKind == mediamatch.KindVideo {
					res.Ranges = append(res.Ranges, fmt.Sprintf("%s: shows %s, matched %s of the item (%s)",
						o.Name, fmtRange(v.source, true), fmtRange(got, ok), map[bool]string{true: "in range", false: "OUT OF RANGE"}[in]))
				}
			}
			if !upright && o.banked && !right {
				res.Ranges = append(res.Ranges, fmt.Sprintf("%s: shows %s, not matched", o.Name, fmtRange(v.source, true)))
			}
			d := &res.Default
			if upright {
				d = &res.Upright
			}
			d.count(o.banked, len(ms) > 0, right, wrong)
		}
	}
	res.Default.rates(res.Queries, res.DistractorQueries)
	res.Upright.rates(res.Queries, res.DistractorQueries)
	return res, queries, nil
}

type videoVariant struct {
	media  mediamatch.Media
	source mediamatch.TimeRange
	err    error
}

// makeVideoVariant makes edit e of o (whose file is at in) at out, hashes
// it with its dihedral variants and removes it.
func makeVideoVariant(ctx context.Context, cfg VideoConfig, e VideoEdit, o *original, in, out string) videoVariant {
	data := o.Data
	source := mediamatch.TimeRange{End: o.media.Duration}
	if o.media.Kind == mediamatch.KindImage {
		source = mediamatch.TimeRange{}
	}
	if e.Plan != nil {
		r := rand.New(rand.NewPCG(cfg.Seed, seedOf(e.Name, o.Name)))
		p := e.Plan(VideoInfo{Width: o.media.Width, Height: o.media.Height, Duration: o.media.Duration}, r)
		source = p.Source
		switch {
		case p.Still && p.StillExt != "":
			out += p.StillExt
		case p.Still:
			out += ".png"
		default:
			out += ".mp4"
		}
		defer os.Remove(out)
		if err := makeVideo(ctx, cfg.FFmpeg, in, out, p); err != nil {
			return videoVariant{source: source, err: err}
		}
		var err error
		if data, err = os.ReadFile(out); err != nil {
			return videoVariant{source: source, err: err}
		}
	}
	m, err := cfg.Hasher.HashWith(ctx, data, fingerprint.HashOptions{Dihedral: true})
	if err != nil && errors.Is(err, context.Canceled) {
		return videoVariant{err: err}
	}
	return videoVariant{media: m, source: source, err: err}
}

// hull returns the span from the first start to the last end of rs, and
// whether there is one.
func hull(rs []mediamatch.TimeRange) (mediamatch.TimeRange, bool) {
	if len(rs) == 0 {
		return mediamatch.TimeRange{}, false
	}
	h := rs[0]
	for _, r := range rs[1:] {
		h.Start, h.End = min(h.Start, r.Start), max(h.End, r.End)
	}
	return h, true
}

func near(a, b time.Duration) bool { return (a - b).Abs() <= RangeTolerance }

func fmtRange(r mediamatch.TimeRange, ok bool) string {
	if !ok {
		return "no span"
	}
	return fmt.Sprintf("%.1f-%.1f s", r.Start.Seconds(), r.End.Seconds())
}

// WriteText writes the report as a table, one row per edit, then the
// spans matched and the mistakes, then the cost. It returns w's error.
func (r *VideoReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d videos: %d banked, %d distractors (seed %d, bank share %.2f)\n\n",
		len(r.Banked)+len(r.Distractors), len(r.Banked), len(r.Distractors), r.Seed, r.BankShare)
	fmt.Fprintf(&b, "banked: %s\ndistractors: %s\n\n", strings.Join(r.Banked, " "), strings.Join(r.Distractors, " "))
	writeVideoTable(&b, r.Results)
	if len(r.StillResults) > 0 {
		fmt.Fprintf(&b, "\nphotos and videos of photos: %d photos banked as images beside the videos, %d distractors\n\n",
			len(r.BankedStills), len(r.DistractorStills))
		writeVideoTable(&b, r.StillResults)
	}
	b.WriteString("\n")
	results := append(slices.Clip(r.Results), r.StillResults...)
	for _, res := range results {
		for _, s := range res.Ranges {
			fmt.Fprintf(&b, "%s: %s\n", res.Edit, s)
		}
	}
	for _, res := range results {
		for _, e := range res.Errors {
			fmt.Fprintf(&b, "%s: not made or hashed: %s\n", res.Edit, e)
		}
		for _, m := range res.Mistakes {
			fmt.Fprintf(&b, "%s: %s\n", res.Edit, m)
		}
	}
	c := r.Cost
	fmt.Fprintf(&b, "\ncost: %d originals, %d edits: %d variants made and hashed in %s (%d workers), "+
		"originals %s, %d matches in %s; total %s\n", c.Originals, c.Edits, c.Variants, c.HashVariants.Round(time.Millisecond),
		c.Workers, c.HashOriginals.Round(time.Millisecond), c.Matches, c.Match.Round(time.Millisecond), c.Total.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

// writeVideoTable writes one row per result.
func writeVideoTable(b *strings.Builder, results []VideoResult) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "edit\trecall\tin range (%s)\twrong\tFP\tupright recall\tupright in range\tupright FP\tfailed\tmade by\t\n", RangeTolerance)
	for _, res := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t\n", res.Edit,
			frac(res.Default.Right, res.Queries), frac(res.InRange, res.Queries), res.Default.Wrong,
			frac(res.Default.FalsePositives, res.DistractorQueries),
			frac(res.Upright.Right, res.Queries), frac(res.UprightInRange, res.Queries),
			frac(res.Upright.FalsePositives, res.DistractorQueries), res.Failed, formatVia(res.Via))
	}
	tw.Flush()
}
