package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/fingerprint"
)

// Uploads are held in memory only: they are never written to disk and
// never logged.

// checkContent checks a file sent whole in one message. field names it
// ("MatchMediaRequest.content"), stream the RPC that takes larger files.
func (s *Server) checkContent(field, stream string, content []byte) error {
	switch n := int64(len(content)); {
	case n == 0:
		return invalid(field, "empty, want 1..%d bytes", s.opts.MaxUnaryBytes)
	case n > s.opts.MaxUnaryBytes:
		return &limitError{field: field, msg: fmt.Sprintf(
			"%d bytes, over the limit of %d bytes for one message; send larger files with %s",
			n, s.opts.MaxUnaryBytes, stream)}
	}
	return nil
}

// hashContent hashes an upload; field names the request field that
// carried it ("MatchMediaRequest.content", "MatchMediaStreamRequest.chunk"),
// so that a file that cannot be hashed is refused naming it (*mediaError).
func (s *Server) hashContent(ctx context.Context, field string, data []byte, o fingerprint.HashOptions) (mediamatch.Media, error) {
	m, err := s.hash.HashWith(ctx, data, o)
	if err != nil && isMediaError(err) {
		return m, &mediaError{field: field, err: err}
	}
	return m, err
}

// chunked is a message of a client-streamed upload.
type chunked interface {
	GetChunk() []byte
}

// receive reads a streamed upload to the end. It returns the first message
// (which carries the options or item spec; nil if the client sent nothing)
// and the file assembled from every message's chunk. check, if not nil,
// validates the first message as soon as it arrives, so that bad options
// fail before the rest is uploaded. msg names the request message for
// errors ("MatchMediaStreamRequest"). It fails with an *invalidError for an
// oversize chunk or an empty upload and a *limitError once the total
// passes limit, without reading further.
func receive[M chunked](recv func() (M, error), msg string, limit int64, check func(M) error) (first M, data []byte, err error) {
	var (
		chunks [][]byte
		total  int64
		n      int // messages received
	)
	for i := 0; ; i++ {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			n = i
			break
		}
		if err != nil {
			return first, nil, err
		}
		if i == 0 {
			first = m
			if check != nil {
				if err := check(m); err != nil {
					return first, nil, err
				}
			}
		}
		c := m.GetChunk()
		if len(c) > MaxChunkBytes {
			return first, nil, invalid(msg+".chunk", "%d bytes in message %d, want at most %d (1 MiB) per message",
				len(c), i, 1<<20)
		}
		total += int64(len(c))
		if total > limit {
			return first, nil, &limitError{field: msg + ".chunk", msg: fmt.Sprintf(
				"upload passes %d bytes, over the limit of %d bytes for a streamed file", total, limit)}
		}
		if len(c) > 0 {
			chunks = append(chunks, c)
		}
	}
	if n == 0 && check != nil {
		// Nothing at all was sent: the first message's fields are missing too.
		if err := check(first); err != nil {
			return first, nil, err
		}
	}
	if total == 0 {
		return first, nil, invalid(msg+".chunk", "no data received, want a file of 1..%d bytes", limit)
	}
	data = make([]byte, 0, total)
	for i, c := range chunks {
		data = append(data, c...)
		chunks[i] = nil // let the chunk go as soon as it is copied
	}
	return first, data, nil
}

// slots are the upload slots: at most max held at once, and at most
// perCaller by one caller (a key). A freed slot goes to the waiter whose
// caller holds the fewest slots, the earliest among equals, so that
// callers who keep many uploads waiting cannot crowd out one who sends
// few. Safe for concurrent use.
type slots struct {
	max, perCaller int

	mu      sync.Mutex
	held    int
	by      map[string]int
	waiting []*slotWaiter // in order of arrival
}

type slotWaiter struct {
	key   string
	ready chan struct{} // closed when the slot is granted
}

func newSlots(max, perCaller int) *slots {
	return &slots{max: max, perCaller: perCaller, by: make(map[string]int)}
}

// take waits for a slot for key; it returns ctx's error if ctx ends first.
func (s *slots) take(ctx context.Context, key string) error {
	w := &slotWaiter{key: key, ready: make(chan struct{})}
	s.mu.Lock()
	s.waiting = append(s.waiting, w)
	s.grant()
	s.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		s.free(key)
	default:
		for i, x := range s.waiting {
			if x == w {
				s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
				break
			}
		}
	}
	return ctx.Err()
}

// release frees a slot of key's.
func (s *slots) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.free(key)
}

// free frees a slot of key's and grants what it can; s.mu is held.
func (s *slots) free(key string) {
	s.held--
	if s.by[key]--; s.by[key] <= 0 {
		delete(s.by, key)
	}
	s.grant()
}

// grant gives free slots to waiters, each to the one whose caller holds
// the fewest (the earliest among equals) and is under perCaller; s.mu is
// held.
func (s *slots) grant() {
	for s.held < s.max {
		best := -1
		for i, w := range s.waiting {
			n := s.by[w.key]
			if n < s.perCaller && (best < 0 || n < s.by[s.waiting[best].key]) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		w := s.waiting[best]
		s.waiting = append(s.waiting[:best], s.waiting[best+1:]...)
		s.held++
		s.by[w.key]++
		close(w.ready)
	}
}

// budget is a count of bytes held against a maximum. Safe for concurrent
// use.
type budget struct {
	max  int64
	used atomic.Int64
}

// reserve adds n bytes and reports true, or reports false and adds
// nothing when that would pass the maximum.
func (b *budget) reserve(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *budget) release(n int64) { b.used.Add(-n) }
