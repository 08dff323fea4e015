package hashlist

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// This file is mediamatch's own format, jsonl: one JSON object per line
// holding every field of an item, e.g.
//
//	{"id":"a1","bank":"gifct","labels":{"category":"x"},"media":{"kind":"image",
//	 "keyframes":[{"index":0,"signals":[{"type":"pdq","hash":"f8f8...","quality":100}]}]},
//	 "source":{"format":"te-updates","partner":"Meta","upstream_id":"a1"}}
//
// or a retraction, {"id":"a1","delete":true}. Times are RFC 3339 in UTC
// with nanoseconds; keyframe times and durations are integer nanoseconds.
//
// A keyframe's local features (items hashed from media have a few hundred
// a frame; partner lists none) are one string, "features": the standard
// base64, with padding, of 37 bytes a feature (EncodeFeatures): x and y as
// two bytes each, big-endian, then the level in one byte, then the 32
// bytes of the descriptor, most significant bit first; features in the
// keyframe's order, e.g. for one feature at x 2048, y 1024, level 3 with
// the descriptor ff 00 00 ... 00:
//
//	"features":"CAAEAAP/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
//
// One string rather than an object a feature keeps a record small (200
// features are 9.9 KB of base64, where {"x":..,"desc":"<hex>"} objects
// would take 20 KB) and the line quick to read.

type jsonlItem struct {
	ID         string            `json:"id"`
	Delete     bool              `json:"delete,omitempty"`
	Bank       string            `json:"bank,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Disabled   bool              `json:"disabled,omitempty"`
	Media      *jsonlMedia       `json:"media,omitempty"`
	CreateTime string            `json:"create_time,omitempty"`
	UpdateTime string            `json:"update_time,omitempty"`
	Source     *jsonlSource      `json:"source,omitempty"`
}

type jsonlMedia struct {
	Kind        string          `json:"kind"` // "image", "video" or "unknown"
	Format      string          `json:"format,omitempty"`
	Size        int64           `json:"size,omitempty"`
	Width       int             `json:"width,omitempty"`
	Height      int             `json:"height,omitempty"`
	DurationNS  int64           `json:"duration_ns,omitempty"`
	FileSignals []jsonlSignal   `json:"file_signals,omitempty"`
	Keyframes   []jsonlKeyframe `json:"keyframes,omitempty"`
}

type jsonlKeyframe struct {
	Index          int           `json:"index"`
	StartNS        int64         `json:"start_ns,omitempty"`
	EndNS          int64         `json:"end_ns,omitempty"`
	LowInformation bool          `json:"low_information,omitempty"`
	Signals        []jsonlSignal `json:"signals"`
	Features       string        `json:"features,omitempty"` // EncodeFeatures
}

type jsonlSignal struct {
	Type      string     `json:"type"`
	Hash      string     `json:"hash"` // lowercase hex
	Quality   int        `json:"quality,omitempty"`
	Transform int        `json:"transform,omitempty"`
	View      *jsonlView `json:"view,omitempty"` // absent for the whole frame
}

// jsonlView is a mediamatch.View: the region in thousandths, and whether
// the frame's borders were trimmed first.
type jsonlView struct {
	X0      int  `json:"x0"`
	Y0      int  `json:"y0"`
	X1      int  `json:"x1"`
	Y1      int  `json:"y1"`
	Trimmed bool `json:"trimmed,omitempty"`
}

type jsonlSource struct {
	Format     string   `json:"format,omitempty"`
	Partner    string   `json:"partner,omitempty"`
	UpstreamID string   `json:"upstream_id,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	FirstSeen  string   `json:"first_seen,omitempty"`
	Updated    string   `json:"updated,omitempty"`
}

// parseJSONLRow parses a jsonl line.
func parseJSONLRow(line string) (Record, error) {
	var j jsonlItem
	if err := unmarshal([]byte(line), &j); err != nil {
		return Record{}, err
	}
	if j.Delete {
		return Record{Delete: true, Item: mediamatch.Item{ID: j.ID}}, nil
	}
	it, err := j.item()
	return Record{Item: it}, err
}

// item returns the item j holds.
func (j *jsonlItem) item() (mediamatch.Item, error) {
	it := mediamatch.Item{Bank: j.Bank, ID: j.ID, Disabled: j.Disabled}
	if len(j.Labels) > 0 {
		it.Labels = j.Labels
	}
	var err error
	if it.CreateTime, err = parseTime("create_time", j.CreateTime); err != nil {
		return it, err
	}
	if it.UpdateTime, err = parseTime("update_time", j.UpdateTime); err != nil {
		return it, err
	}
	if m := j.Media; m != nil {
		it.Media = mediamatch.Media{Format: m.Format, Size: m.Size, Width: m.Width, Height: m.Height,
			Duration: time.Duration(m.DurationNS)}
		switch m.Kind {
		case "image":
			it.Media.Kind = mediamatch.KindImage
		case "video":
			it.Media.Kind = mediamatch.KindVideo
		case "unknown", "":
		default:
			return it, fmt.Errorf("media kind %q, want image, video or unknown", clip(m.Kind))
		}
		if it.Media.FileSignals, err = jsonlSignals(m.FileSignals); err != nil {
			return it, err
		}
		for i, k := range m.Keyframes {
			sigs, err := jsonlSignals(k.Signals)
			if err != nil {
				return it, err
			}
			fs, err := DecodeFeatures(k.Features)
			if err != nil {
				return it, fmt.Errorf("media.keyframes[%d].features: %w", i, err)
			}
			it.Media.Keyframes = append(it.Media.Keyframes, mediamatch.Keyframe{Index: k.Index,
				Start: time.Duration(k.StartNS), End: time.Duration(k.EndNS), Signals: sigs, LowInformation: k.LowInformation,
				Features: fs})
		}
	}
	if s := j.Source; s != nil {
		it.Source = &mediamatch.Source{Format: s.Format, Partner: s.Partner, UpstreamID: s.UpstreamID, Tags: s.Tags}
		if it.Source.FirstSeen, err = parseTime("first_seen", s.FirstSeen); err != nil {
			return it, err
		}
		if it.Source.Updated, err = parseTime("updated", s.Updated); err != nil {
			return it, err
		}
	}
	return it, nil
}

// jsonlSignals decodes signals; the index checks the rest (lengths of
// lists, quality and transform ranges).
func jsonlSignals(js []jsonlSignal) ([]mediamatch.Signal, error) {
	var sigs []mediamatch.Signal
	for _, j := range js {
		t := mediamatch.SignalType(j.Type)
		if !t.Valid() {
			return nil, fmt.Errorf("unknown signal type %q, want one of %v", clip(j.Type), mediamatch.SignalTypes())
		}
		s, err := decodeHash(t, j.Hash)
		if err != nil {
			return nil, err
		}
		s.Quality, s.Transform = j.Quality, mediamatch.Transform(j.Transform)
		if v := j.View; v != nil {
			s.View = mediamatch.View{Region: mediamatch.Region{X0: v.X0, Y0: v.Y0, X1: v.X1, Y1: v.Y1}, Trimmed: v.Trimmed}
		}
		sigs = append(sigs, s)
	}
	return sigs, nil
}

// MarshalItem returns the jsonl record of it, one line of JSON without
// the newline: what a Writer of JSONL writes for it and a Reader of JSONL
// reads back, so that the command line's --json items import unchanged.
// It fails only if encoding/json does. It is safe for concurrent use.
func MarshalItem(it mediamatch.Item) ([]byte, error) { return json.Marshal(toJSONL(it)) }

// toJSONL returns the jsonl form of it.
func toJSONL(it mediamatch.Item) jsonlItem {
	m := it.Media
	j := jsonlItem{ID: it.ID, Bank: it.Bank, Labels: it.Labels, Disabled: it.Disabled,
		CreateTime: formatTime(it.CreateTime), UpdateTime: formatTime(it.UpdateTime),
		Media: &jsonlMedia{Kind: m.Kind.String(), Format: m.Format, Size: m.Size, Width: m.Width, Height: m.Height,
			DurationNS: int64(m.Duration), FileSignals: toJSONLSignals(m.FileSignals)}}
	for _, k := range m.Keyframes {
		j.Media.Keyframes = append(j.Media.Keyframes, jsonlKeyframe{Index: k.Index, StartNS: int64(k.Start),
			EndNS: int64(k.End), LowInformation: k.LowInformation, Signals: toJSONLSignals(k.Signals),
			Features: EncodeFeatures(k.Features)})
	}
	if s := it.Source; s != nil {
		j.Source = &jsonlSource{Format: s.Format, Partner: s.Partner, UpstreamID: s.UpstreamID, Tags: s.Tags,
			FirstSeen: formatTime(s.FirstSeen), Updated: formatTime(s.Updated)}
	}
	return j
}

func toJSONLSignals(sigs []mediamatch.Signal) []jsonlSignal {
	var js []jsonlSignal
	for _, s := range sigs {
		j := jsonlSignal{Type: string(s.Type), Hash: s.Hex(), Quality: s.Quality, Transform: int(s.Transform)}
		if !s.View.Whole() {
			r := s.View.Region
			j.View = &jsonlView{X0: r.X0, Y0: r.Y0, X1: r.X1, Y1: r.Y1, Trimmed: s.View.Trimmed}
		}
		js = append(js, j)
	}
	return js
}

// formatTime writes t as RFC 3339 in UTC with nanoseconds; "" for the zero
// time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// EncodeFeatures returns fs as jsonl and the command line's JSON carry
// them: the standard base64 encoding, with padding, of their binary form
// (mediamatch.AppendFeatures: 37 bytes a feature in order, x and y
// big-endian in two bytes each, the level in one, then the descriptor's
// 32 bytes); "" for none. It is safe for concurrent use.
func EncodeFeatures(fs []mediamatch.Feature) string {
	if len(fs) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(mediamatch.AppendFeatures(make([]byte, 0, len(fs)*mediamatch.FeatureBytes), fs))
}

// DecodeFeatures returns the features s holds (see EncodeFeatures); nil
// for "". It fails if s is not standard base64 or does not hold a whole
// number of features, or holds more than mediamatch.MaxFeaturesPerKeyframe;
// it does not check the features' ranges (mediamatch.ValidateMedia does).
// It is safe for concurrent use.
func DecodeFeatures(s string) ([]mediamatch.Feature, error) {
	if s == "" {
		return nil, nil
	}
	// The count is checked on the length before decoding, so that a huge
	// string costs no more than its own bytes.
	if n := base64.StdEncoding.DecodedLen(len(s)) / mediamatch.FeatureBytes; n > mediamatch.MaxFeaturesPerKeyframe {
		return nil, fmt.Errorf("%d features or more, want at most %d", n, mediamatch.MaxFeaturesPerKeyframe)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not standard base64 with padding: %v", err)
	}
	return mediamatch.ParseFeatures(b)
}
