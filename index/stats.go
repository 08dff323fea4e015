package index

import (
	"maps"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Stats is a summary of what the index holds, for metrics and status.
type Stats struct {
	// Items is the number of stored items, enabled or not, in live banks
	// and in deleted banks not yet purged.
	Items int
	// BankItems is the item count of each live bank, by name.
	BankItems map[string]int64
	// Signals is the number of signals in the search structures, by
	// signal type (all views of a frame together); under
	// mediamatch.Local, the keyframes with local features.
	Signals map[mediamatch.SignalType]int
	// BankSignals is, for each live bank by name, the number of signals
	// of its enabled items in the search structures, by signal type (all
	// views of a frame together; types without signals absent). Summed
	// over banks it equals Signals.
	BankSignals map[string]map[mediamatch.SignalType]int64
	// VlogGCRuns is the number of value-log GC rounds run since Open, in
	// the background or by RunValueLogGC; VlogGCRewrites the number of
	// value-log files they rewrote.
	VlogGCRuns, VlogGCRewrites uint64
}

// Stats returns a summary of the index's latest published state. It reads
// memory only, never the store, and never blocks. Safe for concurrent use.
func (ix *Index) Stats() Stats {
	st := ix.mem.state()
	s := Stats{
		Items:     st.nitems,
		BankItems: make(map[string]int64, len(st.banks)),

		BankSignals: make(map[string]map[mediamatch.SignalType]int64, len(st.banks)),
		Signals:     make(map[mediamatch.SignalType]int),

		VlogGCRuns:     ix.vlog.runs.Load(),
		VlogGCRewrites: ix.vlog.rewrites.Load(),
	}
	for name, b := range st.banks {
		s.BankItems[name] = b.items.Load()
		sigs := make(map[mediamatch.SignalType]int64)
		for _, t := range mediamatch.MatchTypes() {
			if n := b.signals[typeOrder(t)&7].Load(); n != 0 {
				sigs[t] = n
			}
		}
		s.BankSignals[name] = sigs
	}
	for k, v := range maps.All(st.views) {
		if v != nil {
			s.Signals[k.typ] += v.Len()
		}
	}
	if st.local != nil {
		s.Signals[mediamatch.Local] = st.local.Len() // keyframes with local features
	}
	return s
}
