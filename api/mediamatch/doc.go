// Package mediamatch is the ground floor of the service: the domain types
// that every other package shares and that import only the standard
// library, so that a client of the API links no media decoder, no store and
// no cgo.
//
// It owns the signal model: the signal types (PDQ, pHash, dHash, MD5,
// SHA-256) with their hash sizes, default thresholds and quality minimums,
// signals and their Hamming distance, the eight dihedral transforms and
// their EXIF orientations, and the fingerprint of one file (Media,
// Keyframe, Kind). It owns the records the service keeps and answers
// with: banks, items and their sources (Bank, Item, Source), matches
// (Match, FrameMatch, TimeRange), and access (Role, Token, AuditEntry).
// It also reads and writes the text forms in which partners exchange PDQ
// hashes (ParsePDQ, ParseHashLine, WriteHashLine, ParseVPDQ, WriteVPDQ).
//
// A new signal type is one more SignalType value with its size and default
// threshold; nothing else changes shape. Package fingerprint turns media
// into these signals; the index stores and matches them; package
// mediamatch/v1 is their wire form; client, server and the command line
// pass them between those.
//
// Every other package of the module may import it; it imports only the
// standard library, never a third-party module and never another package
// of the module. imports_test.go checks this and the import rules that the
// other packages' documentation states.
//
// Its tables are read-only: every function and method is safe for
// concurrent use.
package mediamatch
