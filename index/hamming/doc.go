// Package hamming is the exact Hamming-radius search engine behind the
// index: a Searcher holds packed perceptual hashes, each with an item ref
// and a keyframe position, and finds every one within a radius of a query,
// through multi-index hashing tables or a tuned scan, whichever costs less.
//
// It owns the search structures (segments, tables, the inline 64-bit
// layout, the scan kernels, the prefetch assembly, the huge-page advice),
// their merge policy, and their conformance suite: every structure must
// find exactly what brute force finds (search_test.go). Its benchmarks
// (searchbench_test.go) compare it with brute force in the same process.
//
// The API is small: New, Searcher.Add, Searcher.AddBatch (with Entries),
// Searcher.Remove, Searcher.View, View.Search, View.Len, View.Stored and
// Searcher.Wait; and View.SearchNear and View.SearchNearMany, a cheap
// approximate search for a query's secondary signals (flips, rotations,
// views), which probes only the query's own bucket of each table and so
// finds for certain only entries within fewer bits (near.go). Beside it,
// KeyIndex (keys.go) is an inverted index of uint32 LSH keys for local
// features: NewKeyIndex, KeyIndex.Add, KeyIndex.AddBatch (with
// KeyEntries), KeyIndex.Remove, KeyIndex.View, KeyView.Vote, KeyView.Len,
// KeyView.Bytes and KeyIndex.Wait.
//
// Package index is its one user. It knows nothing of items, banks, signal
// types or storage, and must never import any other package of mediamatch
// (index, api/mediamatch, fingerprint, ...), Badger or gRPC: it depends on
// the standard library and golang.org/x/sys only. Callers translate signal
// types into word counts and radii.
package hamming
