// Package fingerprint turns media into signals: it decodes images, pulls
// frames out of videos with ffmpeg, and computes the perceptual (pHash,
// dHash, PDQ) and exact (MD5, SHA-256) hashes that the index stores
// and matches. The signal model it fills in (mediamatch.Media, Keyframe,
// Signal, the signal types and transforms) is package mediamatch's.
//
// It owns every third-party media quirk: the decoders (the standard
// library's, golang.org/x/image's, libjpeg-turbo through cgo), ffmpeg
// (through ffmpeg-go and a sandboxed child process), goimagehash, and the
// memory and time budgets of decoding hostile input. None of their types
// appears in its API. Package server hashes uploads with it, and the
// command line hashes local files with it (match --local-hash, hash
// --local).
//
// It never imports index, index/hashlist, server, gRPC or the command
// line: media goes in and signals come out, whoever stores or sends them.
package fingerprint
