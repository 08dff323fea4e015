// Package hostile makes hostile media files for tests: headers that claim
// enormous images, decoding bombs within the pixel budget (progressive
// JPEGs of thousands of scans, 16-bit PNGs and TIFFs that deflate to
// gigabytes), animations of many frames, videos whose index is missing or
// at the end, videos hours long or with frames too large to decode, and
// playlists that point ffmpeg at other files or at the network.
// fingerprint's tests, server's tests (against a running server) and the
// command's flood benchmark feed the same files.
//
// Functions that need ffmpeg take the path of its binary and run it in a
// temporary directory of their own, which they remove; none writes
// anywhere else. Each returns the file's bytes, or an error that says
// which step failed (with ffmpeg's output when it fails). All are safe
// for concurrent use.
//
// It also holds the fixtures those tests share besides the files: a
// watch on the heap while bombs decode (WatchHeap) and a descriptor
// leaked to child processes (LeakedDescriptor).
//
// Only tests import it, and it imports only the standard library and
// golang.org/x/sys: never the package it attacks (fingerprint) nor anything
// else of mediamatch, so that the files do not depend on the code under
// test.
package hostile
