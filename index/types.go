package index

import (
	"github.com/mediamatch/mediamatch/api/mediamatch"
)

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
	// Upright searches only the query's untransformed signals. By default
	// its transformed signals (Signal.Transform set: the hashes of the
	// upload rotated or mirrored, as fingerprint.HashOptions.Dihedral
	// makes them) are searched too, so that turned copies match.
	Upright bool
	// MaxProbes caps the signals searched (informative keyframes times
	// their searchable signals); 0 means DefaultMaxMatchProbes, negative no
	// limit. MaxHits caps the keyframe pairs within the threshold gathered;
	// 0 means DefaultMaxMatchHits, negative no limit. Over either, Match
	// returns mediamatch.ErrOverBudget. MaxFrameMatches caps the FrameMatch entries
	// returned across all matches, and separately their time ranges; 0
	// means DefaultMaxFrameMatches, negative no limit.
	MaxProbes, MaxHits, MaxFrameMatches int
}
