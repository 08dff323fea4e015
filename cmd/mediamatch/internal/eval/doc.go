// Package eval measures how well mediamatch recognises edited copies of
// known media: given originals, it makes the edited variants itself
// (ImageEdits: re-encodes, resizes, crops, flips and rotations, colour
// changes, captions, logos, pads, borders, screenshot chrome), banks a
// seeded share of the originals in a real index, keeps the rest as
// distractors, hashes every variant with the real fingerprint.Hasher and
// matches it with the service's default query (what a MatchMedia call
// without options does), and reports per edit the recall, the wrong items,
// the false positives and the Hamming distances of true and of unrelated
// pairs, per signal and for the service's decision. RunVideo does the same
// for videos: ffmpeg makes the VideoEdits (re-encodes, cuts, a compilation,
// pads, crops, speed changes, a reframe, a still frame), each knowing the
// span of the original it shows, and the report says also whether the
// match's span of the item is within RangeTolerance of it.
// `mediamatch eval` is its command; its tests run a small version of each
// under `make test`.
//
// It lives under cmd/mediamatch because it joins fingerprint and index,
// which no package below the command line may do (fingerprint must never
// reach index); it never imports the command line, server or client, and
// nothing but the command line imports it.
package eval
