package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index/hashlist"
)

// The JSON forms printed by --json: snake_case keys, signal names in lower
// case ("phash"), hashes in lowercase hex, times in milliseconds. Items are
// the exception: they print as the jsonl records of export and import
// (itemJSON). A keyframe's local features are one string in both, the
// jsonl encoding (hashlist.EncodeFeatures: base64 of 37 bytes a feature),
// so that what hash --json prints can become an import record as it is.

type jsonSignal struct {
	Type      string    `json:"type"`
	Hash      string    `json:"hash"`
	Quality   int       `json:"quality,omitempty"`
	Transform string    `json:"transform,omitempty"`
	View      *jsonView `json:"view,omitempty"`
}

// jsonView is a mediamatch.View other than the whole frame: the region in
// thousandths of the frame, and whether its borders were trimmed first.
type jsonView struct {
	X0      int  `json:"x0"`
	Y0      int  `json:"y0"`
	X1      int  `json:"x1"`
	Y1      int  `json:"y1"`
	Trimmed bool `json:"trimmed,omitempty"`
}

// toJSONView returns v's JSON form, nil for the whole frame.
func toJSONView(v mediamatch.View) *jsonView {
	if v.Whole() {
		return nil
	}
	r := v.Region
	return &jsonView{X0: r.X0, Y0: r.Y0, X1: r.X1, Y1: r.Y1, Trimmed: v.Trimmed}
}

type jsonKeyframe struct {
	Index          int          `json:"index"`
	StartMillis    int64        `json:"start_millis"`
	EndMillis      int64        `json:"end_millis"`
	LowInformation bool         `json:"low_information,omitempty"`
	Signals        []jsonSignal `json:"signals"`
	// Features are the keyframe's local features, hashlist.EncodeFeatures;
	// absent when it has none.
	Features string `json:"features,omitempty"`
}

type jsonMedia struct {
	Kind           string         `json:"kind"`
	Format         string         `json:"format,omitempty"`
	Width          int            `json:"width,omitempty"`
	Height         int            `json:"height,omitempty"`
	DurationMillis int64          `json:"duration_millis,omitempty"`
	SizeBytes      int64          `json:"size_bytes,omitempty"`
	FileSignals    []jsonSignal   `json:"file_signals"`
	Keyframes      []jsonKeyframe `json:"keyframes"`
}

type jsonRange struct {
	StartMillis int64 `json:"start_millis"`
	EndMillis   int64 `json:"end_millis"`
}

type jsonFrame struct {
	QueryFrame int       `json:"query_frame"`
	ItemFrame  int       `json:"item_frame"`
	QueryTime  jsonRange `json:"query_time"`
	ItemTime   jsonRange `json:"item_time"`
	Signal     string    `json:"signal"`
	Distance   int       `json:"distance"`
	Transform  string    `json:"transform,omitempty"`
	QueryView  *jsonView `json:"query_view,omitempty"`
	ItemView   *jsonView `json:"item_view,omitempty"`
	// Points is the number of verified local features of a "local" hit.
	Points int `json:"points,omitempty"` // -1: withheld (see jsonMatch)
}

type jsonMatch struct {
	ItemID        string            `json:"item_id"`
	Bank          string            `json:"bank"`
	Signal        string            `json:"signal"`
	Distance      int               `json:"distance"`
	Threshold     int               `json:"threshold"`
	Transform     string            `json:"transform,omitempty"`
	QueryView     *jsonView         `json:"query_view,omitempty"`
	ItemView      *jsonView         `json:"item_view,omitempty"`
	Points        int               `json:"points,omitempty"` // of a "local" best hit; -1 withheld from callers below curator
	Labels        map[string]string `json:"labels"`
	ItemKind      string            `json:"item_kind"`
	QueryCoverage float64           `json:"query_coverage"`
	ItemCoverage  float64           `json:"item_coverage"`
	QueryRanges   []jsonRange       `json:"query_ranges,omitempty"`
	ItemRanges    []jsonRange       `json:"item_ranges,omitempty"`
	Frames        []jsonFrame       `json:"frames,omitempty"`
	Source        *jsonSource       `json:"source,omitempty"`
}

// jsonSource is where an imported item came from.
type jsonSource struct {
	Format     string    `json:"format"`
	Partner    string    `json:"partner,omitempty"`
	UpstreamID string    `json:"upstream_id,omitempty"`
	Tags       []string  `json:"tags,omitempty"`
	FirstSeen  time.Time `json:"first_seen"`
	Updated    time.Time `json:"updated"`
}

type jsonBank struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	ItemCount   int64     `json:"item_count"`
	CreateTime  time.Time `json:"create_time"`
}

func toJSONSource(s *mediamatch.Source) *jsonSource {
	if s == nil {
		return nil
	}
	return &jsonSource{Format: s.Format, Partner: s.Partner, UpstreamID: s.UpstreamID, Tags: s.Tags,
		FirstSeen: s.FirstSeen, Updated: s.Updated}
}

// describeSource returns "source pdq from partner-a (upstream 123)", or ""
// for an item added directly.
func describeSource(s *mediamatch.Source) string {
	if s == nil {
		return ""
	}
	out := "source " + safeText(s.Format)
	if s.Partner != "" {
		out += " from " + safeText(s.Partner)
	}
	if s.UpstreamID != "" {
		out += " (upstream " + safeText(s.UpstreamID) + ")"
	}
	return out
}

func toJSONSignals(sigs []mediamatch.Signal) []jsonSignal {
	out := make([]jsonSignal, len(sigs))
	for i, s := range sigs {
		out[i] = jsonSignal{Type: string(s.Type), Hash: s.Hex(), Quality: s.Quality, Transform: transformName(s.Transform), View: toJSONView(s.View)}
	}
	return out
}

func toJSONMedia(m mediamatch.Media) *jsonMedia {
	out := &jsonMedia{
		Kind: m.Kind.String(), Format: m.Format, Width: m.Width, Height: m.Height,
		DurationMillis: m.Duration.Milliseconds(), SizeBytes: m.Size,
		FileSignals: toJSONSignals(m.FileSignals), Keyframes: make([]jsonKeyframe, len(m.Keyframes)),
	}
	for i, k := range m.Keyframes {
		out.Keyframes[i] = jsonKeyframe{
			Index: k.Index, StartMillis: k.Start.Milliseconds(), EndMillis: k.End.Milliseconds(),
			LowInformation: k.LowInformation, Signals: toJSONSignals(k.Signals),
			Features: hashlist.EncodeFeatures(k.Features),
		}
	}
	return out
}

func toJSONRange(r mediamatch.TimeRange) jsonRange {
	return jsonRange{StartMillis: r.Start.Milliseconds(), EndMillis: r.End.Milliseconds()}
}

func toJSONRanges(rs []mediamatch.TimeRange) []jsonRange {
	var out []jsonRange
	for _, r := range rs {
		out = append(out, toJSONRange(r))
	}
	return out
}

func toJSONMatches(ms []mediamatch.Match) []jsonMatch {
	out := make([]jsonMatch, len(ms))
	for i, m := range ms {
		jm := jsonMatch{
			ItemID: m.ItemID, Bank: m.Bank, Signal: string(m.Signal), Distance: m.Distance, Threshold: m.Threshold,
			Transform: transformName(m.Transform), QueryView: toJSONView(m.QueryView), ItemView: toJSONView(m.ItemView),
			Points: m.Points, Labels: nonNil(m.Labels), ItemKind: m.ItemKind.String(),
			QueryCoverage: m.QueryCoverage, ItemCoverage: m.ItemCoverage,
			QueryRanges: toJSONRanges(m.QueryRanges), ItemRanges: toJSONRanges(m.ItemRanges),
			Source: toJSONSource(m.Source),
		}
		for _, f := range m.Frames {
			jm.Frames = append(jm.Frames, jsonFrame{
				QueryFrame: f.QueryFrame, ItemFrame: f.ItemFrame,
				QueryTime: toJSONRange(f.QueryTime), ItemTime: toJSONRange(f.ItemTime),
				Signal: string(f.Signal), Distance: f.Distance, Transform: transformName(f.Transform),
				QueryView: toJSONView(f.QueryView), ItemView: toJSONView(f.ItemView), Points: f.Points,
			})
		}
		out[i] = jm
	}
	return out
}

func toJSONBank(b mediamatch.Bank) jsonBank {
	return jsonBank{Name: b.Name, Description: b.Description, ItemCount: b.ItemCount, CreateTime: b.CreateTime}
}

// itemJSON returns the JSON of an item for --json: the jsonl record that
// `export --format jsonl` writes and `import` reads, so that what item get,
// item list and add print imports back unchanged.
func itemJSON(it mediamatch.Item) (json.RawMessage, error) { return hashlist.MarshalItem(it) }

// printItem writes the JSON of an item (itemJSON) as one line.
func printItem(w io.Writer, it mediamatch.Item) error {
	b, err := itemJSON(it)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// transformName returns t's name as the PDQ reference and pdq.Variant name
// it ("flipy"), "" for TransformNone and "transform(n)" for a value out of
// range; describeTransform adds what it means for people.
func transformName(t mediamatch.Transform) string {
	name, _ := transformText(t)
	return name
}

// describeTransform returns e.g. "flipy (mirrored left to right)".
func describeTransform(t mediamatch.Transform) string {
	name, meaning := transformText(t)
	if meaning == "" {
		return name
	}
	return name + " (" + meaning + ")"
}

func transformText(t mediamatch.Transform) (name, meaning string) {
	switch t {
	case mediamatch.TransformNone:
		return "", ""
	case mediamatch.Rotate90:
		return "rotate90", "rotated 90 degrees counter-clockwise"
	case mediamatch.Rotate180:
		return "rotate180", "rotated 180 degrees"
	case mediamatch.Rotate270:
		return "rotate270", "rotated 90 degrees clockwise"
	case mediamatch.FlipX:
		return "flipx", "mirrored top to bottom"
	case mediamatch.FlipY:
		return "flipy", "mirrored left to right"
	case mediamatch.FlipPlus1:
		return "flipplus1", "transposed"
	case mediamatch.FlipMinus1:
		return "flipminus1", "anti-transposed"
	}
	return fmt.Sprintf("transform(%d)", int(t)), ""
}

// Human-readable forms.
//
// Every string that comes from the server and was not made by it (names,
// descriptions, labels, sources, audit targets and details, token names)
// goes through safeText: stored strings can hold newlines and terminal
// escape sequences, which printed raw forge lines (an audit entry that
// looks like an admin's) or rewrite the screen. JSON output escapes them
// already.

// safeText returns s unchanged when every character of it is printable
// (unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the
// ASCII space), and else s quoted as a Go string literal (strconv.Quote),
// so that control characters and escape sequences show as \n, \x1b,
// \u202e and never reach the terminal raw. A tab is not printable here: it
// would break the columns of a table.
func safeText(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// safeTexts is safeText of each of ss, joined with sep.
func safeTexts(ss []string, sep string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = safeText(s)
	}
	return strings.Join(out, sep)
}

// formatLabels returns "k=v k2=v2" in key order.
func formatLabels(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, safeText(k)+"="+safeText(l[k]))
	}
	return strings.Join(parts, " ")
}

func formatDuration(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func formatRange(r mediamatch.TimeRange) string {
	return formatDuration(r.Start) + "-" + formatDuration(r.End)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// describeMedia returns "image png 451x300, 240512 bytes, 1 keyframe", and
// ", 212 local features" when it has any.
func describeMedia(m mediamatch.Media) string {
	var b strings.Builder
	b.WriteString(m.Kind.String())
	if m.Format != "" {
		b.WriteString(" " + safeText(m.Format))
	}
	if m.Width > 0 || m.Height > 0 {
		fmt.Fprintf(&b, " %dx%d", m.Width, m.Height)
	}
	if m.Duration > 0 {
		b.WriteString(", " + formatDuration(m.Duration))
	}
	if m.Size > 0 {
		fmt.Fprintf(&b, ", %d bytes", m.Size)
	}
	fmt.Fprintf(&b, ", %s", plural(len(m.Keyframes), "keyframe", "keyframes"))
	if n := countFeatures(m); n > 0 {
		fmt.Fprintf(&b, ", %s", plural(n, "local feature", "local features"))
	}
	return b.String()
}

// countFeatures returns the number of local features of m's keyframes.
func countFeatures(m mediamatch.Media) int {
	n := 0
	for _, k := range m.Keyframes {
		n += len(k.Features)
	}
	return n
}

// printSignals writes one line per signal, file signals first, and after
// each keyframe's signals one line with the number of its local features,
// if it has any ("  features: 212  frame 0"): the descriptors themselves
// are for machines (hash --json).
func printSignals(w io.Writer, m mediamatch.Media) {
	for _, s := range m.FileSignals {
		fmt.Fprintf(w, "  %-7s %s\n", s.Type, s.Hex())
	}
	for _, k := range m.Keyframes {
		for _, s := range k.Signals {
			line := fmt.Sprintf("  %-7s %s  frame %d", s.Type, s.Hex(), k.Index)
			if k.End > 0 {
				line += "  " + formatDuration(k.Start) + "-" + formatDuration(k.End)
			}
			if s.Quality > 0 || s.Type == mediamatch.PDQ {
				line += fmt.Sprintf("  quality %d", s.Quality)
			}
			if !s.Matchable() && !k.LowInformation {
				line += fmt.Sprintf("  under %d (never matched)", s.Type.MinQuality())
			}
			if s.Transform != mediamatch.TransformNone {
				line += "  " + describeTransform(s.Transform)
			}
			if !s.View.Whole() {
				line += "  view " + s.View.String()
			}
			if k.LowInformation {
				line += "  low-information (never matched)"
			}
			fmt.Fprintln(w, line)
		}
		if len(k.Features) > 0 {
			line := fmt.Sprintf("  features: %d  frame %d", len(k.Features), k.Index)
			if k.End > 0 {
				line += "  " + formatDuration(k.Start) + "-" + formatDuration(k.End)
			}
			fmt.Fprintln(w, line)
		}
	}
}

// describeViews says which views of the upload and the item made a match,
// "" when both are whole frames: e.g. "upload trimmed 0,125-1000,875 ~
// item whole" for a padded copy, "upload whole ~ item region
// 50,50-950,950" for a crop.
func describeViews(q, i mediamatch.View) string {
	if q.Whole() && i.Whole() {
		return ""
	}
	return "upload " + q.String() + " ~ item " + i.String()
}

// printMatches writes a summary line for a file and one line per match.
func printMatches(w io.Writer, file string, ms []mediamatch.Match) {
	if len(ms) == 0 {
		fmt.Fprintf(w, "%s: no match\n", file)
		return
	}
	fmt.Fprintf(w, "%s: %s\n", file, plural(len(ms), "match", "matches"))
	for _, m := range ms {
		line := fmt.Sprintf("  %s/%s  %s distance %d (threshold %d)", safeText(m.Bank), safeText(m.ItemID), m.Signal, m.Distance, m.Threshold)
		switch {
		case m.Signal == mediamatch.Local:
			line = fmt.Sprintf("  %s/%s  %s", safeText(m.Bank), safeText(m.ItemID), describeLocal(m))
		case m.Distance < 0: // withheld from callers below curator
			line = fmt.Sprintf("  %s/%s  %s within threshold %d", safeText(m.Bank), safeText(m.ItemID), m.Signal, m.Threshold)
		}
		if m.Transform != mediamatch.TransformNone {
			line += "  transform " + describeTransform(m.Transform)
		}
		if v := describeViews(m.QueryView, m.ItemView); v != "" && m.Signal != mediamatch.Local {
			line += "  " + v
		}
		if m.ItemKind == mediamatch.KindVideo || len(m.Frames) > 1 {
			line += fmt.Sprintf("  frames matched: %.0f%% of query, %.0f%% of item",
				100*m.QueryCoverage, 100*m.ItemCoverage)
		}
		if l := formatLabels(m.Labels); l != "" {
			line += "  " + l
		}
		if src := describeSource(m.Source); src != "" {
			line += "  " + src
		}
		fmt.Fprintln(w, line)
		if len(m.QueryRanges) > 0 || len(m.ItemRanges) > 0 {
			fmt.Fprintf(w, "    query %s; item %s\n", formatRanges(m.QueryRanges), formatRanges(m.ItemRanges))
		}
	}
}

// describeLocal says what a match by local features rests on: "local
// features, 37 points, mean distance 41, upload region 0,0-1000,990 ~
// item region 100,50-900,950": how many features agreed on one placement
// (the more, the surer), their mean descriptor distance (withheld from
// callers below curator), and the parts of the two frames the points
// span, where the item's says which part of it the upload shows (a crop
// keeps a region of the item; a padded copy shows the item within a
// region of the upload). The threshold is left out: it is not a distance
// the hit was within, as it is for a hash. Callers below curator see
// neither the points nor the distance (-1).
func describeLocal(m mediamatch.Match) string {
	out := "local features"
	if m.Points >= 0 { // withheld (-1) from callers below curator, as the distance is
		out += ", " + plural(m.Points, "point", "points")
	}
	if m.Distance >= 0 {
		out += fmt.Sprintf(", mean distance %d", m.Distance)
	}
	return out + ", upload " + m.QueryView.String() + " ~ item " + m.ItemView.String()
}

func formatRanges(rs []mediamatch.TimeRange) string {
	if len(rs) == 0 {
		return "-"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = formatRange(r)
	}
	return strings.Join(parts, ", ")
}

func describeItem(it mediamatch.Item) string {
	state := "enabled"
	if it.Disabled {
		state = "disabled"
	}
	line := fmt.Sprintf("%s/%s  %s  %s", safeText(it.Bank), safeText(it.ID), describeMedia(it.Media), state)
	if l := formatLabels(it.Labels); l != "" {
		line += "  " + l
	}
	if src := describeSource(it.Source); src != "" {
		line += "  " + src
	}
	return line
}
