package index

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// DefaultVlogGCInterval is the default of Options.VlogGCInterval.
const DefaultVlogGCInterval = 10 * time.Minute

// vlogDiscardRatio is the share of garbage at which a value-log file is
// rewritten: Badger's recommended 0.5.
const vlogDiscardRatio = 0.5

// vlogGC is the state of the background value-log GC.
type vlogGC struct {
	interval time.Duration // <= 0: no background loop
	runs     atomic.Uint64 // rounds run
	rewrites atomic.Uint64 // value-log files rewritten
	done     chan struct{} // closed when the loop has stopped
}

// vlogLoop runs a value-log GC round every interval until ctx ends.
// Badger only reclaims the space of deleted or overwritten values in its
// value log when asked to; without this the log grows forever.
func (ix *Index) vlogLoop(ctx context.Context) {
	defer close(ix.vlog.done)
	t := time.NewTicker(ix.vlog.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := ix.gcRound(ctx); err != nil && ctx.Err() == nil {
			ix.log.Error("index: value-log GC failed; retrying at the next round", "err", err)
		}
	}
}

// gcRound rewrites value-log files until none has enough garbage or ctx
// ends, counts the round and the rewrites, and returns how many files it
// rewrote.
func (ix *Index) gcRound(ctx context.Context) (int, error) {
	ix.vlog.runs.Add(1)
	n := 0
	for ctx.Err() == nil {
		err := ix.st.gcValueLog(vlogDiscardRatio)
		if errors.Is(err, errNoGC) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		ix.vlog.rewrites.Add(1)
	}
	return n, ctx.Err()
}

// RunValueLogGC runs one value-log GC round now, as the background loop
// does every Options.VlogGCInterval: it rewrites the store's value-log
// files of which half or more is garbage (deleted or overwritten values),
// until none is left, and returns how many it rewrote. It returns
// mediamatch.ErrClosed after Close, mediamatch.ErrNoSpace on an index
// opened read-only, or the store's error. Safe for concurrent use; a round
// running concurrently makes this one return 0.
func (ix *Index) RunValueLogGC(ctx context.Context) (int, error) {
	if err := ix.enter(ctx); err != nil {
		return 0, err
	}
	defer ix.exit()
	if ix.readOnly {
		return 0, mediamatch.ErrNoSpace
	}
	return ix.gcRound(ctx)
}
