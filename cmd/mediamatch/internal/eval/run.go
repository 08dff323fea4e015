package eval

import (
	"context"
	"fmt"
	"sync"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index"
)

// The steps that the image and the video evaluations share.

// prepare checks the originals (what they are, for errors) and the bank
// share, and splits them, seeded, into banked ones and distractors, with
// ids made of prefix and their position.
func prepare(originals []Original, what, prefix string, share float64, seed uint64) ([]*original, error) {
	if len(originals) < 2 {
		return nil, fmt.Errorf("eval: %d %s, want at least 2 (one banked, one distractor)", len(originals), what)
	}
	if share < 0 || share > 1 {
		return nil, fmt.Errorf("eval: bank share %v, want 0..1", share)
	}
	banked, err := split(originals, share, seed)
	if err != nil {
		return nil, err
	}
	origs := make([]*original, len(originals))
	for i, o := range originals {
		origs[i] = &original{Original: o, id: fmt.Sprintf("%s%03d", prefix, i), banked: banked[i]}
	}
	return origs, nil
}

// openBank opens an index in dir, which the evaluation owns, with the
// bank that holds the banked originals.
func openBank(ctx context.Context, dir string) (*index.Index, error) {
	ix, err := index.Open(dir, index.Options{MinFreeBytes: -1})
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	if _, err := ix.CreateBank(ctx, mediamatch.Bank{Name: bankName}); err != nil {
		ix.Close()
		return nil, fmt.Errorf("eval: %w", err)
	}
	return ix, nil
}

// forEachVariant calls makeOne for every edit e and original o on workers
// goroutines, reporting progress after each, and returns the variants by
// edit and original. It stops early, with ctx's error, when ctx ends.
func forEachVariant[V any](ctx context.Context, workers, edits, originals int, progress func(done, total int), makeOne func(e, o int) V) ([][]V, error) {
	type job struct{ e, o int }
	jobs := make(chan job)
	out := make([][]V, edits)
	for e := range out {
		out[e] = make([]V, originals)
	}
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				v := makeOne(j.e, j.o)
				mu.Lock()
				out[j.e][j.o] = v
				done++
				if progress != nil {
					progress(done, edits*originals)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for e := range edits {
		for o := range originals {
			select {
			case jobs <- job{e, o}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// names returns the names of the banked originals and of the distractors.
func names(origs []*original) (banked, distractors []string) {
	for _, o := range origs {
		if o.banked {
			banked = append(banked, o.Name)
		} else {
			distractors = append(distractors, o.Name)
		}
	}
	return banked, distractors
}
