package eval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	_ "image/gif" // decoders of the originals
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// Original is one original file.
type Original struct {
	Name string // how the report names it: a path relative to the originals' folder
	Data []byte
	// Distractor keeps the original out of the bank whatever the split:
	// for files that are not to be matched (blank images, the second of a
	// pair of similar pictures).
	Distractor bool
}

// Config is one evaluation.
type Config struct {
	Originals []Original
	// Edits are applied to every original; nil means ImageEdits.
	Edits []Edit
	// BankShare is the share of the originals banked (0..1 of those not
	// marked Distractor, rounded to the nearest count, at least 1 and
	// leaving at least one distractor); the others are distractors. 0
	// means 0.5.
	BankShare float64
	// Seed decides the split and every random choice of the edits.
	Seed uint64
	// Dir is an empty directory for the index; the caller removes it.
	Dir string
	// Hasher hashes originals and variants; nil means
	// fingerprint.New(fingerprint.Options{}), the service's defaults.
	Hasher *fingerprint.Hasher
	// Workers is how many variants are made and hashed at once; 0 means
	// GOMAXPROCS.
	Workers int
	// Progress, if set, is called after each variant is hashed with the
	// count done and the total; from one goroutine at a time.
	Progress func(done, total int)
}

// bankName is the bank the evaluation's index holds the banked originals in.
const bankName = "eval"

// Run makes every edit of every original, matches the variants against
// the banked originals and returns the report. It fails if an original
// cannot be decoded or hashed, or the index fails; a variant that cannot
// be hashed counts as not matched (Result.Failed).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	if cfg.Edits == nil {
		cfg.Edits = ImageEdits()
	}
	if cfg.BankShare == 0 {
		cfg.BankShare = 0.5
	}
	if cfg.Hasher == nil {
		cfg.Hasher = fingerprint.New(fingerprint.Options{})
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}

	origs, err := prepare(cfg.Originals, "originals", "o", cfg.BankShare, cfg.Seed)
	if err != nil {
		return nil, err
	}
	n := len(origs)

	// Decode and hash the originals; bank some.
	ix, err := openBank(ctx, filepath.Join(cfg.Dir, "service"))
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	ref, err := openBank(ctx, filepath.Join(cfg.Dir, "reference"))
	if err != nil {
		return nil, err
	}
	defer ref.Close()
	for _, o := range origs {
		img, _, err := image.Decode(bytes.NewReader(o.Data))
		if err != nil {
			return nil, fmt.Errorf("eval: decode %s: %w", o.Name, err)
		}
		o.img = img
		// Hashed as an upload is (with the rotated and mirrored variants,
		// for OriginalPairs); banked as an item is, untransformed.
		if o.media, err = cfg.Hasher.HashWith(ctx, o.Data, fingerprint.HashOptions{Dihedral: true}); err != nil {
			return nil, fmt.Errorf("eval: hash %s: %w", o.Name, err)
		}
		if o.banked {
			if _, err := ix.AddItem(ctx, mediamatch.Item{Bank: bankName, ID: o.id, Media: upright(o.media)}); err != nil {
				return nil, fmt.Errorf("eval: bank %s: %w", o.Name, err)
			}
			if _, err := ref.AddItem(ctx, mediamatch.Item{Bank: bankName, ID: o.id, Media: wholeFrames(o.media)}); err != nil {
				return nil, fmt.Errorf("eval: bank %s: %w", o.Name, err)
			}
		}
	}
	hashOriginals := time.Since(start)
	var pairs []int
	localPairs := 0
	for i, a := range origs {
		for _, b := range origs[i+1:] {
			d := min(decisionDistance(a.media, b.media), decisionDistance(b.media, a.media))
			if d >= 0 {
				pairs = append(pairs, d)
			}
			p1, _ := index.LocalPoints(a.media, b.media)
			p2, _ := index.LocalPoints(b.media, a.media)
			localPairs = max(localPairs, p1, p2)
		}
	}

	// Make and hash every variant.
	hashStart := time.Now()
	variants, err := forEachVariant(ctx, cfg.Workers, len(cfg.Edits), n, cfg.Progress, func(e, o int) variant {
		return makeVariant(ctx, cfg, cfg.Edits[e], origs[o])
	})
	if err != nil {
		return nil, err
	}
	hashVariants := time.Since(hashStart)

	// Match every variant, as the service does and as the reference does.
	rep := &Report{Seed: cfg.Seed, BankShare: cfg.BankShare, OriginalPairs: summarise(pairs),
		OriginalPairsLocal: localPairs, LocalMinPoints: index.LocalMinPoints()}
	byID := make(map[string]*original, n)
	for _, o := range origs {
		byID[o.id] = o
	}
	rep.Banked, rep.Distractors = names(origs)
	matchStart := time.Now()
	queries := 0
	for e, ed := range cfg.Edits {
		res := Result{Edit: ed.Name, Doc: ed.Doc, JPEG: ed.JPEG}
		acc := newAccumulator()
		for i, o := range origs {
			v := variants[e][i]
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
			if !matchable(v.media) {
				res.Unmatchable++
			}
			for _, reference := range []bool{false, true} {
				var ms []mediamatch.Match
				var err error
				if reference {
					ms, err = ref.Match(ctx, index.Query{Media: wholeFrames(v.media), Upright: true})
				} else {
					ms, err = ix.Match(ctx, index.Query{Media: v.media})
				}
				if err != nil {
					return nil, fmt.Errorf("eval: match %s of %s: %w", ed.Name, o.Name, err)
				}
				queries++
				right, wrong := false, false
				for _, m := range ms {
					if m.ItemID == o.id {
						right = true
						if !reference {
							acc.decision.true = append(acc.decision.true, m.Distance)
							acc.via[via(m)]++
						}
					} else {
						wrong = true
						if !reference {
							acc.decision.unrelated = append(acc.decision.unrelated, m.Distance)
						}
						if len(res.Mistakes) < maxMistakes {
							res.Mistakes = append(res.Mistakes, fmt.Sprintf("%s matched %s (%s %d, %s%s)",
								o.Name, byID[m.ItemID].Name, m.Signal, m.Distance, via(m), map[bool]string{true: ", reference"}[reference]))
						}
					}
				}
				d := &res.Default
				if reference {
					d = &res.Reference
				}
				d.count(o.banked, len(ms) > 0, right, wrong)
			}
			for _, b := range origs {
				if b.banked && b != o {
					if d := decisionDistance(v.media, b.media); d >= 0 {
						acc.decision.closest = append(acc.decision.closest, d)
					}
					p, _ := index.LocalPoints(v.media, b.media)
					res.LocalUnrelated = max(res.LocalUnrelated, p)
				}
			}
			acc.pairs(v.media, o, origs)
			// Each perceptual signal alone, as a query naming it does.
			for _, t := range perceptual {
				ms, err := ix.Match(ctx, index.Query{Media: v.media, Signals: []mediamatch.SignalType{t}})
				if err != nil {
					return nil, fmt.Errorf("eval: match %s of %s by %s: %w", ed.Name, o.Name, t, err)
				}
				queries++
				acc.sig[t].count(ms, o)
			}
		}
		res.Default.rates(res.Queries, res.DistractorQueries)
		res.Reference.rates(res.Queries, res.DistractorQueries)
		res.Decision = DecisionDistances{True: summarise(acc.decision.true), Unrelated: summarise(acc.decision.unrelated),
			Closest: summarise(acc.decision.closest)}
		if len(acc.via) > 0 {
			res.Via = acc.via
		}
		for _, t := range perceptual {
			res.Signals = append(res.Signals, acc.signal(t, res.Queries, res.DistractorQueries))
		}
		rep.Results = append(rep.Results, res)
	}
	rep.Cost = Cost{
		Originals: n, Edits: len(cfg.Edits), Variants: n * len(cfg.Edits), Matches: queries, Workers: cfg.Workers,
		HashOriginals: hashOriginals, HashVariants: hashVariants, Match: time.Since(matchStart), Total: time.Since(start),
	}
	return rep, nil
}

// split returns which of origs are banked: a seeded shuffle of those not
// marked Distractor, the first share of them (at least 1, leaving at least
// one distractor). It fails if every original is a distractor.
func split(origs []Original, share float64, seed uint64) ([]bool, error) {
	var candidates []int
	for i, o := range origs {
		if !o.Distractor {
			candidates = append(candidates, i)
		}
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("eval: every original is a distractor, want one to bank")
	}
	rand.New(rand.NewPCG(seed, 0x5eed)).Shuffle(len(candidates), func(i, j int) {
		candidates[i], candidates[j] = candidates[j], candidates[i]
	})
	nBank := max(1, int(float64(len(candidates))*share+0.5))
	if nBank == len(origs) {
		nBank--
	}
	banked := make([]bool, len(origs))
	for _, i := range candidates[:nBank] {
		banked[i] = true
	}
	return banked, nil
}

// maxMistakes is the most wrong matches and false positives a Result
// describes.
const maxMistakes = 20

// perceptual are the perceptual signal types, as the report lists them.
var perceptual = []mediamatch.SignalType{mediamatch.PDQ, mediamatch.PHash, mediamatch.DHash}

type original struct {
	Original
	id     string // item id in the bank
	banked bool
	img    image.Image
	media  mediamatch.Media
}

type variant struct {
	media mediamatch.Media
	err   error
}

// makeVariant applies edit e to o, encodes it and hashes it as the
// service hashes an upload: with its dihedral variants.
func makeVariant(ctx context.Context, cfg Config, e Edit, o *original) variant {
	data := o.Data
	if e.Apply != nil {
		r := rand.New(rand.NewPCG(cfg.Seed, seedOf(e.Name, o.Name)))
		img := e.Apply(o.img, r)
		var b bytes.Buffer
		var err error
		if e.JPEG > 0 {
			err = jpeg.Encode(&b, img, &jpeg.Options{Quality: e.JPEG})
		} else {
			err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img)
		}
		if err != nil {
			return variant{err: fmt.Errorf("encode: %w", err)}
		}
		data = b.Bytes()
	}
	m, err := cfg.Hasher.HashWith(ctx, data, fingerprint.HashOptions{Dihedral: true})
	if err != nil && errors.Is(err, context.Canceled) {
		return variant{err: err}
	}
	return variant{media: m, err: err}
}

// seedOf returns the second word of the random stream of one edit of one
// original, so that each is the same whatever else is evaluated.
func seedOf(edit, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(edit))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return h.Sum64()
}

// matchable reports whether m has a keyframe with a matchable PDQ signal.
func matchable(m mediamatch.Media) bool {
	return slices.ContainsFunc(m.Keyframes, func(k mediamatch.Keyframe) bool {
		s, ok := k.Signal(mediamatch.PDQ)
		return ok && k.Matchable(s)
	})
}

// accumulator gathers the distances of one edit.
type accumulator struct {
	decision struct{ true, unrelated, closest []int }
	via      map[string]int
	sig      map[mediamatch.SignalType]*sigAcc
}

type sigAcc struct {
	true, unrelated        []int
	right, wrong, falsePos int
}

func newAccumulator() *accumulator {
	a := &accumulator{sig: make(map[mediamatch.SignalType]*sigAcc), via: make(map[string]int)}
	for _, t := range perceptual {
		a.sig[t] = new(sigAcc)
	}
	return a
}

// pairs records, per perceptual signal, the distance of the variant media
// of o to o (a true pair, if o is banked) and to every other banked
// original (unrelated pairs), keyframe by keyframe at its closest. Only
// pairs whose signals are both matchable (quality, low information) count:
// the others can never match.
func (a *accumulator) pairs(m mediamatch.Media, o *original, origs []*original) {
	for _, t := range perceptual {
		s := a.sig[t]
		for _, b := range origs {
			if !b.banked {
				continue
			}
			d, ok := closest(m, b.media, t)
			if d < 0 || !ok {
				continue // no signal, or one that may not match
			}
			if b == o {
				s.true = append(s.true, d)
			} else {
				s.unrelated = append(s.unrelated, d)
			}
		}
	}
}

// count records the matches ms of a query of o's variant by one signal.
func (s *sigAcc) count(ms []mediamatch.Match, o *original) {
	right, wrong := false, false
	for _, m := range ms {
		if m.ItemID == o.id {
			right = true
		} else {
			wrong = true
		}
	}
	switch {
	case !o.banked && len(ms) > 0:
		s.falsePos++
	case right:
		s.right++
	}
	if o.banked && wrong {
		s.wrong++
	}
}

// closest returns the least distance between untransformed signals of type
// t of a keyframe of q and one of it, -1 if either has none, and whether
// that pair is matchable on both sides.
func closest(q, it mediamatch.Media, t mediamatch.SignalType) (int, bool) {
	best, ok := -1, false
	for _, qk := range q.Keyframes {
		qs, has := qk.Signal(t)
		if !has {
			continue
		}
		for _, ik := range it.Keyframes {
			is, has := ik.Signal(t)
			if !has {
				continue
			}
			d := mediamatch.Distance(qs.Hash, is.Hash)
			m := qk.Matchable(qs) && ik.Matchable(is)
			if best < 0 || d < best || d == best && m {
				best, ok = d, m
			}
		}
	}
	return best, ok
}

// upright returns m without its rotated and mirrored variants, as an item
// is stored.
func upright(m mediamatch.Media) mediamatch.Media {
	out := m
	out.Keyframes = make([]mediamatch.Keyframe, len(m.Keyframes))
	for i, k := range m.Keyframes {
		k.Signals = slices.DeleteFunc(slices.Clone(k.Signals), func(s mediamatch.Signal) bool {
			return s.Transform != mediamatch.TransformNone
		})
		out.Keyframes[i] = k
	}
	return out
}

// wholeFrames returns m with only its whole-frame, untransformed
// perceptual signals: what the PDQ reference (and HMA) hash and match.
func wholeFrames(m mediamatch.Media) mediamatch.Media {
	out := m
	out.Keyframes = make([]mediamatch.Keyframe, len(m.Keyframes))
	for i, k := range m.Keyframes {
		k.Signals = slices.DeleteFunc(slices.Clone(k.Signals), func(s mediamatch.Signal) bool {
			return s.Transform != mediamatch.TransformNone || !s.View.Whole()
		})
		k.Features = nil
		out.Keyframes[i] = k
	}
	return out
}

// decisionDistance returns the closest PDQ distance between query q and
// item it by the rule the service matches with (index.Match): any
// matchable PDQ signal of q (every view, and the rotated and mirrored
// variants) against any indexed PDQ signal of it (untransformed, every
// view), a turned variant against the item's whole frames only. -1 if
// there is no such pair.
func decisionDistance(q, it mediamatch.Media) int {
	best := -1
	for _, qk := range q.Keyframes {
		for _, qs := range qk.Signals {
			if qs.Type != mediamatch.PDQ || !qk.Matchable(qs) {
				continue
			}
			for _, ik := range it.Keyframes {
				for _, is := range ik.Signals {
					if is.Type != mediamatch.PDQ || !ik.Matchable(is) || is.Transform != mediamatch.TransformNone ||
						qs.Transform != mediamatch.TransformNone && !is.View.Whole() {
						continue
					}
					if d := mediamatch.Distance(qs.Hash, is.Hash); best < 0 || d < best {
						best = d
					}
				}
			}
		}
	}
	return best
}

// via names what made match m: "whole", the transform ("flipy"), the
// views of the upload and the item ("trimmed~whole", "region~region"), or
// "local" for local features.
func via(m mediamatch.Match) string {
	if m.Signal.Exact() {
		return string(m.Signal)
	}
	if m.Signal == mediamatch.Local {
		return "local" // features verified at one placement
	}
	name := func(v mediamatch.View) string {
		switch {
		case v.Whole():
			return "whole"
		case v.Trimmed:
			return "trimmed" // bars and borders trimmed, and perhaps a region of what is left
		}
		return "region"
	}
	s := name(m.QueryView) + "~" + name(m.ItemView)
	if s == "whole~whole" {
		s = "whole"
	}
	if m.Transform != mediamatch.TransformNone {
		s = transformNames[m.Transform] + " " + s
	}
	return s
}

var transformNames = [8]string{"none", "rotate90", "rotate180", "rotate270", "flipx", "flipy", "flipplus1", "flipminus1"}

func (a *accumulator) signal(t mediamatch.SignalType, queries, distractors int) SignalResult {
	s := a.sig[t]
	r := SignalResult{Signal: t, Threshold: t.DefaultThreshold(), Right: s.right, Wrong: s.wrong, FalsePositives: s.falsePos,
		True: summarise(s.true), Unrelated: summarise(s.unrelated)}
	r.Recall, r.FalsePositiveRate = ratio(r.Right, queries), ratio(r.FalsePositives, distractors)
	return r
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// summarise returns the distribution of ds.
func summarise(ds []int) Distances {
	if len(ds) == 0 {
		return Distances{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) int { return s[min(len(s)-1, int(p*float64(len(s)-1)+0.5))] }
	return Distances{N: len(s), Min: s[0], P5: q(0.05), Median: q(0.5), P95: q(0.95), Max: s[len(s)-1]}
}
