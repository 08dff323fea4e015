package index

import (
	"errors"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Errors returned by the index, wrapped with detail; test with errors.Is.
var (
	ErrNotFound      = errors.New("index: not found")
	ErrAlreadyExists = errors.New("index: already exists")
	ErrInvalid       = errors.New("index: invalid argument")
	ErrClosed        = errors.New("index: closed")
	// ErrOverBudget is a match whose work would exceed the query's budget
	// (Query.MaxProbes, Query.MaxHits).
	ErrOverBudget = errors.New("index: over budget")
	// ErrNoSpace is a write refused because the file system of the index
	// has less free space than Options.MinFreeBytes keeps in reserve, or
	// because the index was opened read-only for want of space.
	ErrNoSpace = errors.New("index: no space")
)

// Bank is a named list of known items.
type Bank struct {
	Name        string
	Description string
	CreateTime  time.Time
	ItemCount   int64 // filled in by GetBank and ListBanks
}

// Item is one known piece of media in a bank.
type Item struct {
	Bank       string
	ID         string
	Labels     map[string]string
	Disabled   bool
	Media      mediamatch.Media
	CreateTime time.Time
	UpdateTime time.Time
	// Source is where an imported item came from; nil for items added
	// directly.
	Source *Source
}

// Source is the provenance of an item imported from a partner's hash list.
type Source struct {
	Format     string    // the hash-list format it was read from, e.g. "te-updates"
	Partner    string    // the collaboration, member or owner that shared it
	UpstreamID string    // the item's id in the partner's list, if it has one
	Tags       []string  // the partner's own tag strings, as given
	FirstSeen  time.Time // when an import first carried it
	Updated    time.Time // when the partner last changed it, or an import last changed it
}

// ItemUpdate says which fields of an item UpdateItem changes.
type ItemUpdate struct {
	Labels   map[string]string // replaces all labels when SetLabels
	Disabled bool              // applied when SetDisabled

	SetLabels   bool
	SetDisabled bool
}

// Query is a match request against the index.
type Query struct {
	Media mediamatch.Media
	// Banks to search; empty means every bank.
	Banks []string
	// Thresholds overrides the default largest Hamming distance per signal type.
	Thresholds map[mediamatch.SignalType]int
	// Signals limits matching to these types; empty means DefaultSignals
	// (PDQ and the exact types). pHash and dHash match only when named.
	Signals []mediamatch.SignalType
	// MaxResults caps the matches returned, best first; 0 means 100.
	MaxResults int
	// Dihedral searches the query's transformed signals too (Signal.Transform
	// set: the hashes of the upload rotated or mirrored). Without it they
	// are ignored and only untransformed signals are searched.
	Dihedral bool
	// MaxProbes caps the signals searched (informative keyframes times
	// their searchable signals); 0 means DefaultMaxMatchProbes, negative no
	// limit. MaxHits caps the keyframe pairs within the threshold gathered;
	// 0 means DefaultMaxMatchHits, negative no limit. Over either, Match
	// returns ErrOverBudget. MaxFrameMatches caps the FrameMatch entries
	// returned across all matches, and separately their time ranges; 0
	// means DefaultMaxFrameMatches, negative no limit.
	MaxProbes, MaxHits, MaxFrameMatches int
}

// TimeRange is a span of a video.
type TimeRange struct {
	Start, End time.Duration
}

// FrameMatch says that one query keyframe matched one item keyframe.
type FrameMatch struct {
	QueryFrame, ItemFrame int
	QueryTime, ItemTime   TimeRange
	Signal                mediamatch.SignalType
	Distance              int
	// Transform is how the query frame is turned relative to the item
	// frame: the inverse of the Transform of the query signal that hit.
	// TransformNone when the untransformed signal hit.
	Transform mediamatch.Transform
}

// Match is one item that a query matched.
type Match struct {
	Bank     string
	ItemID   string
	Labels   map[string]string
	ItemKind mediamatch.Kind
	// Signal, Distance and Threshold describe the best (closest) hit.
	Signal    mediamatch.SignalType
	Distance  int
	Threshold int
	// Transform is how the upload is turned relative to the item at the
	// best hit (see FrameMatch.Transform); TransformNone for exact matches.
	Transform mediamatch.Transform
	// Frames lists every keyframe pair that matched (perceptual signals only).
	Frames []FrameMatch
	// QueryCoverage is the share of the query's informative keyframes that
	// matched this item, 0..1; ItemCoverage the share of the item's.
	QueryCoverage, ItemCoverage float64
	// QueryRanges and ItemRanges are the matched spans, merged.
	QueryRanges, ItemRanges []TimeRange
	// Source is where the item came from, for imported items.
	Source *Source
}
