package eval

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Report is the outcome of Run.
type Report struct {
	Seed        uint64   `json:"seed"`
	BankShare   float64  `json:"bank_share"`
	Banked      []string `json:"banked"`      // names of the banked originals
	Distractors []string `json:"distractors"` // names of the originals kept out of the bank
	Results     []Result `json:"results"`     // one per edit, in the order of Config.Edits
	// OriginalPairs are, for every two originals, the closest distance
	// by the service's decision rule (PDQ, any view of one against any
	// view of the other, rotated and mirrored variants against the
	// other's whole frame): every pair is unrelated, so its minimum must
	// stay above the threshold.
	OriginalPairs Distances `json:"original_pairs"`
	// OriginalPairsLocal is the most local-feature points that agree on
	// one placement for any two originals (either way), against
	// LocalMinPoints, the fewest a match needs.
	OriginalPairsLocal int  `json:"original_pairs_local_points"`
	LocalMinPoints     int  `json:"local_min_points"`
	Cost               Cost `json:"cost"`
}

// Result is what one edit does to matching.
type Result struct {
	Edit string `json:"edit"`
	Doc  string `json:"doc"`
	JPEG int    `json:"jpeg_quality,omitempty"` // 0: encoded as PNG
	// Queries are the variants of banked originals, DistractorQueries
	// those of distractors.
	Queries           int `json:"queries"`
	DistractorQueries int `json:"distractor_queries"`
	// Failed variants could not be hashed (Errors says why); Unmatchable
	// ones have no matchable PDQ signal (quality under 50 or
	// low-information), so match by exact hash at most.
	Failed      int      `json:"failed,omitempty"`
	Errors      []string `json:"errors,omitempty"`
	Unmatchable int      `json:"unmatchable,omitempty"`
	// Mistakes describe the first wrong matches and false positives.
	Mistakes []string `json:"mistakes,omitempty"`
	// Default is the service's decision with its default query (PDQ at
	// threshold 31 with the rotated and mirrored variants and every view,
	// and the exact hashes: a MatchMedia call without options). Reference
	// is what the PDQ reference's matching decides (what HMA does, and
	// this service before views): the whole frame's PDQ only, upright,
	// against items hashed without views.
	Default   Outcome `json:"default"`
	Reference Outcome `json:"reference"`
	// Via counts the default query's right matches by what made them:
	// "whole", a transform ("flipy", ...), or the views of the upload and
	// the item ("trimmed~whole", "region~region", ...).
	Via map[string]int `json:"via,omitempty"`
	// Decision are the distances that the default query's matches report
	// (True, Unrelated), and the closest distance of each variant to every
	// other banked original by the same rule as the service's decision
	// (Closest: PDQ, any searched signal of the variant against any
	// indexed signal of the original), whether within the threshold or
	// not: the margin against false positives.
	Decision DecisionDistances `json:"decision"`
	// LocalUnrelated is the most local-feature points of any variant that
	// agree on one placement in another banked original (index.LocalPoints),
	// whether or not they make a match: the margin of local features.
	LocalUnrelated int `json:"local_unrelated_points"`
	// Signals are the distances per perceptual signal (pairs whose
	// signals are both matchable only), whether or not the
	// default query searches it.
	Signals []SignalResult `json:"signals"`
}

// Outcome counts what the matches of one edit's variants were.
type Outcome struct {
	Right          int     `json:"right"`           // variants of banked originals that matched their original
	Wrong          int     `json:"wrong"`           // variants of banked originals that matched another banked item
	FalsePositives int     `json:"false_positives"` // variants of distractors that matched anything
	Recall         float64 `json:"recall"`          // Right / Queries
	FPRate         float64 `json:"false_positive_rate"`
}

// count records the matches of one variant: of a banked original or a
// distractor, whether anything matched, whether its own item did and
// whether another did.
func (o *Outcome) count(banked, matched, right, wrong bool) {
	switch {
	case !banked && matched:
		o.FalsePositives++
	case banked && right:
		o.Right++
	}
	if banked && wrong {
		o.Wrong++
	}
}

func (o *Outcome) rates(queries, distractors int) {
	o.Recall, o.FPRate = ratio(o.Right, queries), ratio(o.FalsePositives, distractors)
}

// DecisionDistances are the distances of the default query's matches: to
// the right item (True) and to any other (Unrelated).
type DecisionDistances struct {
	True      Distances `json:"true"`
	Unrelated Distances `json:"unrelated"`
	Closest   Distances `json:"closest_unrelated"`
}

// SignalResult is one perceptual signal on its own at its default
// threshold: what a query naming only that signal decides (Right, Wrong,
// FalsePositives, counted as Outcome's), and the closest distance of each
// variant to its own original (True; banked originals only) and to every
// other banked original (Unrelated).
type SignalResult struct {
	Signal            mediamatch.SignalType `json:"signal"`
	Threshold         int                   `json:"threshold"`
	Right             int                   `json:"right"`
	Wrong             int                   `json:"wrong"`
	FalsePositives    int                   `json:"false_positives"`
	Recall            float64               `json:"recall"`
	FalsePositiveRate float64               `json:"false_positive_rate"`
	True              Distances             `json:"true"`
	Unrelated         Distances             `json:"unrelated"`
}

// Distances is a distribution of Hamming distances in bits; all zero when
// N is 0.
type Distances struct {
	N      int `json:"n"`
	Min    int `json:"min"`
	P5     int `json:"p5"`
	Median int `json:"median"`
	P95    int `json:"p95"`
	Max    int `json:"max"`
}

// Cost is what the evaluation took.
type Cost struct {
	Originals     int           `json:"originals"`
	Edits         int           `json:"edits"`
	Variants      int           `json:"variants"` // files made and hashed
	Matches       int           `json:"matches"`  // index.Match calls
	Workers       int           `json:"workers"`
	HashOriginals time.Duration `json:"hash_originals_ns"` // decoding, hashing and banking the originals
	HashVariants  time.Duration `json:"hash_variants_ns"`  // making, encoding and hashing the variants (wall clock)
	Match         time.Duration `json:"match_ns"`
	Total         time.Duration `json:"total_ns"`
}

// Result returns the result of the named edit, and whether there is one.
func (r *Report) Result(edit string) (Result, bool) {
	for _, res := range r.Results {
		if res.Edit == edit {
			return res, true
		}
	}
	return Result{}, false
}

// WriteText writes the report as tables: the decision per edit, then the
// distances per signal, then the cost. It returns w's error.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d originals: %d banked, %d distractors (seed %d, bank share %.2f)\n\n",
		len(r.Banked)+len(r.Distractors), len(r.Banked), len(r.Distractors), r.Seed, r.BankShare)
	fmt.Fprintf(&b, "banked: %s\ndistractors: %s\n\n", strings.Join(r.Banked, " "), strings.Join(r.Distractors, " "))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "edit\trecall\twrong\tFP\treference recall\tunmatchable\tmatch distance med/p95\tunrelated closest min/p5\tunrelated local points\tpHash true med\tdHash true med\tmade by\t")
	for _, res := range r.Results {
		ph, dh := res.Signals[1], res.Signals[2]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d/%d\t%d/%d\t%d\t%d\t%d\t%s\t\n", res.Edit,
			frac(res.Default.Right, res.Queries), res.Default.Wrong, frac(res.Default.FalsePositives, res.DistractorQueries),
			frac(res.Reference.Right, res.Queries), res.Unmatchable,
			res.Decision.True.Median, res.Decision.True.P95, res.Decision.Closest.Min, res.Decision.Closest.P5,
			res.LocalUnrelated, ph.True.Median, dh.True.Median, formatVia(res.Via))
	}
	tw.Flush()
	p := r.OriginalPairs
	fmt.Fprintf(&b, "\nEvery two originals (%d pairs), closest by the decision rule: min %d, p5 %d, median %d bits (PDQ threshold %d);\n"+
		"most local-feature points at one placement %d (a match needs %d)\n",
		p.N, p.Min, p.P5, p.Median, mediamatch.PDQ.DefaultThreshold(), r.OriginalPairsLocal, r.LocalMinPoints)
	fmt.Fprintf(&b, "\nEach signal alone at its default threshold (recall, FP) and its distances (bits: true pairs med/p95/max, unrelated min/p5/med):\n\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "edit\t")
	for _, s := range r.Results[0].Signals {
		fmt.Fprintf(tw, "%s<=%d\tFP\ttrue\tunrelated\t", s.Signal, s.Threshold)
	}
	fmt.Fprintln(tw)
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t", res.Edit)
		for _, s := range res.Signals {
			fmt.Fprintf(tw, "%.2f\t%d\t%d/%d/%d\t%d/%d/%d\t", s.Recall, s.FalsePositives,
				s.True.Median, s.True.P95, s.True.Max, s.Unrelated.Min, s.Unrelated.P5, s.Unrelated.Median)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, res := range r.Results {
		for _, e := range res.Errors {
			fmt.Fprintf(&b, "%s: not hashed: %s\n", res.Edit, e)
		}
		for _, m := range res.Mistakes {
			fmt.Fprintf(&b, "%s: %s\n", res.Edit, m)
		}
	}
	c := r.Cost
	fmt.Fprintf(&b, "\ncost: %d originals x %d edits = %d variants made and hashed in %s (%s each, %d workers), "+
		"originals %s, %d matches in %s; total %s\n", c.Originals, c.Edits, c.Variants, c.HashVariants.Round(time.Millisecond),
		(c.HashVariants / time.Duration(max(1, c.Variants))).Round(100*time.Microsecond), c.Workers,
		c.HashOriginals.Round(time.Millisecond), c.Matches, c.Match.Round(time.Millisecond), c.Total.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

// formatVia writes the counts of Result.Via, most first: "whole 9,
// trimmed~whole 2".
func formatVia(via map[string]int) string {
	keys := make([]string, 0, len(via))
	for k := range via {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if via[keys[i]] != via[keys[j]] {
			return via[keys[i]] > via[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, via[k])
	}
	return strings.Join(parts, ", ")
}

func frac(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", a, b)
}
