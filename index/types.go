package index

import (
	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// The domain's error sentinels, by the names the index's documentation
// uses. The index returns *mediamatch.Error values of these codes; test
// with errors.Is against these or, outside the index, against
// mediamatch's own (the same values).
var (
	ErrNotFound      = mediamatch.ErrNotFound
	ErrAlreadyExists = mediamatch.ErrAlreadyExists
	ErrInvalid       = mediamatch.ErrInvalid
	ErrClosed        = mediamatch.ErrClosed
	// ErrOverBudget is a match whose work would exceed the query's budget
	// (Query.MaxProbes, Query.MaxHits).
	ErrOverBudget = mediamatch.ErrOverBudget
	// ErrNoSpace is a write refused because the file system of the index
	// has less free space than Options.MinFreeBytes keeps in reserve, or
	// because the index was opened read-only for want of space.
	ErrNoSpace = mediamatch.ErrNoSpace
	// ErrUnauthenticated is a secret that is unknown, expired or revoked
	// (Authenticate, an import's RequireToken).
	ErrUnauthenticated = mediamatch.ErrUnauthenticated
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
