package mediamatch

import "time"

// TimeRange is a span of a video.
type TimeRange struct {
	Start, End time.Duration
}

// FrameMatch says that one query keyframe matched one item keyframe.
type FrameMatch struct {
	QueryFrame, ItemFrame int
	QueryTime, ItemTime   TimeRange
	Signal                SignalType
	// Distance is the Hamming distance in bits; -1 where it is withheld
	// (callers below curator).
	Distance int
	// Transform is how the query frame is turned relative to the item
	// frame: the inverse of the Transform of the query signal that hit.
	// TransformNone when the untransformed signal hit.
	Transform Transform
	// QueryView and ItemView are the views of the two frames whose
	// signals hit (see View): the whole frame, the picture with borders
	// trimmed, or a region. For a Local hit, the regions the verified
	// points span in each frame.
	QueryView, ItemView View
	// Points is, for a Local hit, how many local features of the two
	// frames agree on one placement of the query frame in the item frame
	// (geometrically verified); 0 for other signals. Distance is then
	// the mean descriptor distance of those points.
	Points int
}

// Match is one known item that a query matched.
type Match struct {
	Bank     string
	ItemID   string
	Labels   map[string]string
	ItemKind Kind
	// Signal, Distance and Threshold describe the best (closest) hit.
	// Distance is -1 where it is withheld: callers below curator get no
	// distances (they could rebuild hashes from them), no Source, and
	// matches ordered by bank and id.
	Signal    SignalType
	Distance  int
	Threshold int
	// Transform is how the upload is turned relative to the item at the
	// best hit (see FrameMatch.Transform), e.g. FlipY for a copy mirrored
	// left to right; TransformNone when it matched as is.
	Transform Transform
	// QueryView and ItemView are the views at the best hit (see
	// FrameMatch): what preprocessing made the match.
	QueryView, ItemView View
	// Points is the number of verified local features at the best hit,
	// if it is a Local one (see FrameMatch.Points).
	Points int
	// Frames lists every keyframe pair that matched (perceptual signals
	// only: videos, animations and images alike).
	Frames []FrameMatch
	// QueryCoverage is the share of the query's informative keyframes that
	// matched this item, 0..1; ItemCoverage the share of the item's.
	QueryCoverage, ItemCoverage float64
	// QueryRanges and ItemRanges are the matched spans, merged.
	QueryRanges, ItemRanges []TimeRange
	// Source is where the item came from, for imported items; nil
	// otherwise, and for callers below curator.
	Source *Source
}
