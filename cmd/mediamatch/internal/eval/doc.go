// Package eval measures how well mediamatch recognises edited copies of
// known media: given originals, it makes the edited variants itself
// (ImageEdits: re-encodes, resizes, crops, flips and rotations, colour
// changes, captions, logos, pads, borders, screenshot chrome), banks a
// seeded share of the originals in a real index, keeps the rest as
// distractors, hashes every variant with the real fingerprint.Hasher and
// matches it with the service's default query (what a MatchMedia call
// without options does), and reports per edit the recall, the wrong items,
// the false positives and the Hamming distances of true and of unrelated
// pairs, per signal and for the service's decision. `mediamatch eval` is
// its command; its test runs a small version of it under `make test`.
//
// It lives under cmd/mediamatch because it joins fingerprint and index,
// which no package below the command line may do (fingerprint must never
// reach index); it never imports the command line, server or client, and
// nothing but the command line imports it.
package eval
