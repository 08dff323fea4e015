// Package index is the domain core of mediamatch: it keeps banks of known
// items and their signals in Badger and answers "which known items does this
// media match?" from an in-memory search per signal type.
//
// Every write is committed durably (synchronous Badger writes) before the
// call returns, and the in-memory search is updated in the same call, so a
// disabled or deleted item stops matching on the very next Match. Open
// rebuilds the search from a key-only scan of the stored signals. The key
// layout and record formats are described in codec.go.
//
// Partner exchanges are stored here too (exchange.go): their
// configuration, status and checkpoint, the checkpoint moved in the same
// write as the import of the page it covers (Import.SetCheckpoint).
//
// Writes keep a reserve of free disk space (Options.MinFreeBytes) and are
// refused with mediamatch.ErrNoSpace beyond it; the audit log is pruned by age and
// count in the background.
//
// All methods of Index are safe for concurrent use. Writes are serialised;
// reads (Match, GetItem, ListItems, ...) run concurrently with each other and
// with writes.
//
// It owns the store: Badger is imported here and nowhere else, and none of
// its types appears in the API. The search itself is package index/hamming.
// Package server serves an Index over gRPC, index/hashlist turns partner
// lists into its items, and the command line opens one for serve.
//
// It never imports fingerprint (the index stores signals, whoever made
// them), server, the command line or gRPC (google.golang.org/grpc): its
// errors are sentinels that server maps to status codes.
package index
