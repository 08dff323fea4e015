package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/index/hashlist"
)

// kindCase is one kind with its fake and how the fake's entries become
// items.
type kindCase struct {
	kind     Kind
	handler  func(f *fake, w http.ResponseWriter, r *http.Request)
	creds    Credentials
	config   func(base string) Config
	idOf     func(e fakeEntry) string
	keepHash bool // the exchange's entries are their hash
}

func byID(e fakeEntry) string   { return e.id }
func byHash(e fakeEntry) string { return "pdq-" + e.hash }

func kindCases() []kindCase {
	return []kindCase{
		{kind: URL, handler: urlHandler, creds: Credentials{Token: canary}, idOf: byHash,
			config: func(b string) Config {
				return Config{Kind: URL, BaseURL: b + "/lists/gifct.txt", Format: hashlist.Lines}
			}},
		{kind: ThreatExchange, handler: teHandler, creds: Credentials{Token: canary}, idOf: byID,
			config: func(b string) Config { return Config{Kind: ThreatExchange, BaseURL: b, PrivacyGroup: "1234"} }},
		{kind: TCAP, handler: tcapHandler, creds: Credentials{Username: "analyst", Password: canary}, idOf: byID,
			config: func(b string) Config { return Config{Kind: TCAP, BaseURL: b} }},
		{kind: StopNCII, handler: stopNCIIHandler, creds: Credentials{SubscriptionKey: "sub-" + canary, FunctionKey: "fn-" + canary},
			idOf: byHash, keepHash: true, config: func(b string) Config { return Config{Kind: StopNCII, BaseURL: b} }},
		{kind: NCMEC, handler: ncmecHandler, creds: Credentials{Username: "esp", Password: canary}, idOf: byID,
			config: func(b string) Config { return Config{Kind: NCMEC, BaseURL: b} }},
	}
}

func kindCaseOf(k Kind) kindCase {
	for _, kc := range kindCases() {
		if kc.kind == k {
			return kc
		}
	}
	panic(k)
}

// sleeper is Options.Sleep: it records the waits asked and returns at
// once, unless its context has ended.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return nil
}

func (s *sleeper) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// setup returns a fake of kc with 10 entries in 4 seconds, and a fetcher
// of it.
func setup(t *testing.T, kc kindCase) (*fake, *Fetcher, *sleeper) {
	t.Helper()
	fk := newFake(t, kc.handler)
	fk.store.keepHash = kc.keepHash
	for i := range 10 {
		fk.store.put("e" + strconv.Itoa(i))
		if i%3 == 2 {
			fk.store.tick()
		}
	}
	fk.store.tick()
	return fk, newFetcher(t, kc, fk, kc.creds), &sleeper{}
}

func newFetcher(t *testing.T, kc kindCase, fk *fake, creds Credentials) *Fetcher {
	t.Helper()
	s := &sleeper{}
	f, err := New(kc.config(fk.srv.URL), creds, Options{Sleep: s.sleep, Now: fk.store.clock,
		Retry: RetryPolicy{Attempts: 4, MaxRetryAfter: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// noCanary fails the test if s holds the canary secret.
func noCanary(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, canary) {
		t.Errorf("%s holds the secret: %s", what, s)
	}
}

// state is what applying pages in order leaves: id -> PDQ hex.
type state map[string]string

// apply applies a page to m, checking that no id is given twice in it
// (an import refuses two versions of one item) and that nothing in it
// holds the secret.
func apply(t *testing.T, m state, p Page) {
	t.Helper()
	noCanary(t, "checkpoint", string(p.Checkpoint))
	seen := map[string]bool{}
	for _, r := range p.Records {
		id := r.Item.ID
		if seen[id] {
			t.Errorf("id %s twice in one page", id)
		}
		seen[id] = true
		noCanary(t, "record", fmt.Sprintf("%+v %+v", r.Item, r.Item.Source))
		if r.Delete {
			delete(m, id)
			continue
		}
		kf := r.Item.Media.Keyframes
		if len(kf) != 1 || len(kf[0].Signals) != 1 {
			t.Fatalf("record %s: media %+v, want one PDQ", id, r.Item.Media)
		}
		m[id] = kf[0].Signals[0].Hex()
	}
}

// snapshot is a checkpoint and the state that the pages up to it leave.
type snapshot struct {
	cp Checkpoint
	m  state
}

// run fetches from cp until the exchange is caught up, applying the pages
// to m; it returns the last checkpoint and a snapshot after each page.
func run(t *testing.T, f *Fetcher, cp Checkpoint, m state) (Checkpoint, []snapshot) {
	t.Helper()
	var snaps []snapshot
	for range 1000 {
		p, err := f.Next(context.Background(), cp)
		if err != nil {
			noCanary(t, "error", err.Error())
			t.Fatalf("Next(%s): %v", cp, err)
		}
		apply(t, m, p)
		cp = p.Checkpoint
		snaps = append(snaps, snapshot{cp, maps.Clone(m)})
		if !p.More {
			return cp, snaps
		}
	}
	t.Fatal("no end of the pages")
	return "", nil
}

// equal fails the test unless the state is what the exchange holds.
func equal(t *testing.T, what string, m state, fk *fake, kc kindCase) {
	t.Helper()
	want := fk.store.live(kc.idOf)
	if !maps.Equal(map[string]string(m), want) {
		var diff []string
		for id, h := range want {
			if m[id] != h {
				diff = append(diff, fmt.Sprintf("%s: have %.8q, want %.8q", id, m[id], h))
			}
		}
		for id := range m {
			if _, ok := want[id]; !ok {
				diff = append(diff, id+": have it, want none")
			}
		}
		t.Errorf("%s: the fetched state differs from the exchange's:\n%s", what, strings.Join(diff, "\n"))
	}
}

// mutate updates, deletes and adds entries.
func mutate(s *fakeStore) {
	s.put("e1")
	s.put("e7")
	s.del("e2")
	s.tick()
	s.del("e8")
	s.put("e10")
	s.put("e11")
	s.tick()
	s.put("e12")
	s.del("e11") // added and deleted between fetches
	s.tick()
}

// TestFetch fetches each kind's fake in several pages, changes it (new,
// updated and deleted entries), fetches again, and checks each time that
// the pages applied in order leave what the fake holds; then it resumes
// from every checkpoint ever returned, with the state the pages up to it
// left (a crash just after storing it), and checks that it ends at the
// same state: nothing lost, nothing left over.
func TestFetch(t *testing.T) {
	for _, kc := range kindCases() {
		t.Run(string(kc.kind), func(t *testing.T) {
			fk, f, _ := setup(t, kc)
			m := state{}
			cp, snaps := run(t, f, "", m)
			if kc.kind != URL && len(snaps) < 3 {
				t.Errorf("%d pages, want several", len(snaps))
			}
			equal(t, "first fetch", m, fk, kc)

			// Nothing changed: the state stays.
			cp, more := run(t, f, cp, m)
			snaps = append(snaps, more...)
			equal(t, "fetch without changes", m, fk, kc)

			mutate(fk.store)
			cp, more = run(t, f, cp, m)
			snaps = append(snaps, more...)
			equal(t, "fetch after changes", m, fk, kc)
			_ = cp

			for i, s := range append([]snapshot{{"", state{}}}, snaps...) {
				m := maps.Clone(s.m)
				cp, _ := run(t, f, s.cp, m)
				run(t, f, cp, m) // a run begun before the changes ends at them; the next sees them
				equal(t, fmt.Sprintf("resumed from checkpoint %d %s", i, s.cp), m, fk, kc)
			}
		})
	}
}

// TestEmptyExchange fetches an exchange without entries: an empty page,
// the end.
func TestEmptyExchange(t *testing.T) {
	for _, kc := range kindCases() {
		t.Run(string(kc.kind), func(t *testing.T) {
			fk := newFake(t, kc.handler)
			f := newFetcher(t, kc, fk, kc.creds)
			p, err := f.Next(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Records) != 0 || p.More || p.Checkpoint == "" {
				t.Errorf("Next = %d records, more %v, checkpoint %q; want none, false, a checkpoint", len(p.Records), p.More, p.Checkpoint)
			}
		})
	}
}

// TestAuthFailure gives each kind wrong credentials: ErrAuth, after one
// request (no retries), and the error does not hold the credential even
// when the server repeats it.
func TestAuthFailure(t *testing.T) {
	wrong := "wrong-" + canary
	for _, kc := range kindCases() {
		t.Run(string(kc.kind), func(t *testing.T) {
			fk, _, _ := setup(t, kc)
			fk.echo = true
			c := kc.creds
			switch {
			case c.SubscriptionKey != "":
				c.FunctionKey = wrong
			case c.Password != "":
				c.Password = wrong
			default:
				c.Token = wrong
			}
			f := newFetcher(t, kc, fk, c)
			_, err := f.Next(context.Background(), "")
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("Next = %v, want ErrAuth", err)
			}
			noCanary(t, "error", err.Error())
			if n := fk.count(); n != 1 {
				t.Errorf("%d requests, want 1: an auth failure is not retried", n)
			}
		})
	}
}

// TestRetryAfter answers 429 and 503 with Retry-After in seconds, as an
// HTTP date, and over the cap: the fetcher waits what it says (capped),
// and the fetch completes.
func TestRetryAfter(t *testing.T) {
	kc := kindCaseOf(ThreatExchange)
	fk, _, _ := setup(t, kc)
	s := &sleeper{}
	f, err := New(kc.config(fk.srv.URL), kc.creds, Options{Sleep: s.sleep, Now: fk.store.clock,
		Retry: RetryPolicy{Attempts: 5, MaxRetryAfter: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		switch n {
		case 2:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case 3:
			w.Header().Set("Retry-After", fk.store.clock().Add(30*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
		case 4:
			w.Header().Set("Retry-After", "86400")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			return false
		}
		return true
	})
	m := state{}
	run(t, f, "", m)
	equal(t, "after 429 and 503", m, fk, kc)
	want := []time.Duration{7 * time.Second, 30 * time.Second, time.Minute}
	if got := s.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

// Test500MidPage fails the second page of each kind with 500 twice: it is
// retried with backoff and the fetch completes; then fails it for good:
// ErrUnavailable after every attempt, no records, and the checkpoint given
// stays the place to resume.
func Test500MidPage(t *testing.T) {
	for _, kc := range kindCases() {
		t.Run(string(kc.kind), func(t *testing.T) {
			fk, _, _ := setup(t, kc)
			s := &sleeper{}
			f, err := New(kc.config(fk.srv.URL), kc.creds, Options{Sleep: s.sleep, Now: fk.store.clock,
				Retry: RetryPolicy{Attempts: 4, Base: time.Second, Max: 3 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			first := 2 // the second page's first attempt
			if kc.kind == TCAP {
				first = 3 // after the token's request
			}
			if kc.kind == URL {
				first = 1 // one page only
			}
			fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n == first || n == first+1 {
					w.WriteHeader(http.StatusInternalServerError)
					return true
				}
				return false
			})
			m := state{}
			run(t, f, "", m)
			equal(t, "after two 500s", m, fk, kc)
			if got := s.got(); len(got) != 2 || got[0] < 500*time.Millisecond || got[0] > time.Second ||
				got[1] < time.Second || got[1] > 2*time.Second {
				t.Errorf("waits %v, want two, in [0.5s, 1s] and [1s, 2s]", got)
			}

			// For good: from the first page's checkpoint.
			p1, err := f.Next(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			before := fk.count()
			fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
				http.Error(w, "down", http.StatusBadGateway)
				return true
			})
			cp := p1.Checkpoint
			if kc.kind == URL {
				cp = ""
			}
			p, err := f.Next(context.Background(), cp)
			if !errors.Is(err, ErrUnavailable) || len(p.Records) != 0 || p.Checkpoint != "" {
				t.Fatalf("Next = %d records, %q, %v; want none and ErrUnavailable", len(p.Records), p.Checkpoint, err)
			}
			noCanary(t, "error", err.Error())
			if n := fk.count() - before; n != 4 {
				t.Errorf("%d attempts, want 4", n)
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadGateway {
				t.Errorf("error %v, want an *Error with status 502", err)
			}
		})
	}
}

// recorded returns the body the fake's handler gives r.
func recorded(fk *fake, h func(*fake, http.ResponseWriter, *http.Request), r *http.Request) []byte {
	rec := httptest.NewRecorder()
	h(fk, rec, r)
	return rec.Body.Bytes()
}

// TestTruncatedBody cuts the second page of each kind short: a body
// shorter than its Content-Length (the connection dropped) is retried; a
// body that ends cleanly in the middle of the document is ErrBadPage;
// either way nothing of the page is returned.
func TestTruncatedBody(t *testing.T) {
	for _, kc := range kindCases() {
		t.Run(string(kc.kind), func(t *testing.T) {
			fk, f, _ := setup(t, kc)
			target := 2
			switch kc.kind {
			case TCAP:
				target = 3
			case URL:
				target = 1
			}
			cut := func(dropped bool) func(w http.ResponseWriter, r *http.Request, n int) bool {
				return func(w http.ResponseWriter, r *http.Request, n int) bool {
					if n != target && !(dropped && n == target+1) {
						return false
					}
					body := recorded(fk, kc.handler, r)
					if dropped {
						w.Header().Set("Content-Length", strconv.Itoa(len(body)))
					}
					w.Write(body[:len(body)/2])
					return true
				}
			}
			fk.setFault(cut(true))
			m := state{}
			run(t, f, "", m)
			equal(t, "after two dropped bodies", m, fk, kc)

			fk2, f2, _ := setup(t, kc)
			fk2.setFault(cut(false))
			cp := Checkpoint("")
			for range 5 {
				p, err := f2.Next(context.Background(), cp)
				if err != nil {
					if !errors.Is(err, ErrBadPage) || len(p.Records) != 0 {
						t.Fatalf("Next = %d records, %v; want none and ErrBadPage", len(p.Records), err)
					}
					noCanary(t, "error", err.Error())
					return
				}
				cp = p.Checkpoint
			}
			t.Fatal("a body cut in half was read")
		})
	}
}

// TestBodyLimit: a body over MaxBodyBytes is ErrTooLarge, saying the
// limit.
func TestBodyLimit(t *testing.T) {
	kc := kindCaseOf(ThreatExchange)
	fk, _, _ := setup(t, kc)
	f, err := New(kc.config(fk.srv.URL), kc.creds, Options{MaxBodyBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Next(context.Background(), "")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "100 bytes") {
		t.Fatalf("Next = %v, want ErrTooLarge saying 100 bytes", err)
	}
	noCanary(t, "error", err.Error())
}

// TestRefusedEcho: a 4xx other than 401 and 403 is ErrRefused, not
// retried, and the credential that the server echoes is redacted.
func TestRefusedEcho(t *testing.T) {
	kc := kindCaseOf(StopNCII)
	fk, f, _ := setup(t, kc)
	fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		http.Error(w, "bad key "+r.Header.Get("x-functions-key")+" for "+r.URL.String(), http.StatusBadRequest)
		return true
	})
	_, err := f.Next(context.Background(), "")
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("Next = %v, want ErrRefused", err)
	}
	noCanary(t, "error", err.Error())
	if n := fk.count(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestStopNCIIExpiredToken: a page token refused mid-run restarts the run
// from its start, and the fetch still ends at the exchange's state.
func TestStopNCIIExpiredToken(t *testing.T) {
	kc := kindCaseOf(StopNCII)
	fk, f, _ := setup(t, kc)
	m := state{}
	p, err := f.Next(context.Background(), "")
	if err != nil || !p.More {
		t.Fatalf("Next = %v, more %v; want a first page of several", err, p.More)
	}
	apply(t, m, p)
	fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.URL.Query().Get("nextPageToken") != "" {
			http.Error(w, "token expired", http.StatusBadRequest)
			return true
		}
		return false
	})
	p, err = f.Next(context.Background(), p.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, m, p)
	fk.setFault(nil)
	run(t, f, p.Checkpoint, m)
	equal(t, "after an expired token", m, fk, kc)
}

// TestTENextElsewhere: a paging.next on another host is refused, and the
// token is not sent there.
func TestTENextElsewhere(t *testing.T) {
	kc := kindCaseOf(ThreatExchange)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request to the other host: %s", r.URL)
	}))
	defer other.Close()
	fk, f, _ := setup(t, kc)
	fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		writeJSON(w, map[string]any{"data": []any{}, "paging": map[string]any{"next": other.URL + "/v21.0/1234/threat_updates?after=x"}})
		return true
	})
	_, err := f.Next(context.Background(), "")
	if !errors.Is(err, ErrBadPage) {
		t.Fatalf("Next = %v, want ErrBadPage", err)
	}
}

// TestURLNotModified: an unchanged list is a 304 and an empty page with
// the same checkpoint; a list of bad records only is refused rather than
// deleting everything.
func TestURLNotModified(t *testing.T) {
	kc := kindCaseOf(URL)
	fk, f, _ := setup(t, kc)
	var conditional int
	fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Header.Get("If-None-Match") != "" && r.Header.Get("If-Modified-Since") != "" {
			conditional++
		}
		return false
	})
	p1, err := f.Next(context.Background(), "")
	if err != nil || len(p1.Records) != 10 {
		t.Fatalf("Next = %d records, %v; want 10", len(p1.Records), err)
	}
	p2, err := f.Next(context.Background(), p1.Checkpoint)
	if err != nil || len(p2.Records) != 0 || p2.Checkpoint != p1.Checkpoint || conditional != 1 {
		t.Fatalf("Next = %d records, same checkpoint %v, %v, %d conditional requests; want 0, true, nil, 1",
			len(p2.Records), p2.Checkpoint == p1.Checkpoint, err, conditional)
	}
	fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Write([]byte("pdq 00000000000000000000000000000000000000000000000000000000000000zz\n"))
		return true
	})
	if _, err := f.Next(context.Background(), p1.Checkpoint); !errors.Is(err, ErrBadPage) {
		t.Errorf("Next of a list of bad records = %v, want ErrBadPage", err)
	}
}

// TestBadRecords: records of a type mediamatch does not store are counted
// and skipped; the others are returned.
func TestBadRecords(t *testing.T) {
	kc := kindCaseOf(TCAP)
	fk, f, _ := setup(t, kc)
	fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method != http.MethodGet {
			return false
		}
		writeJSON(w, map[string]any{"count": 2, "next": nil, "checkpoint": "9,9", "results": []any{
			map[string]any{"id": 1, "hash_digest": pdqOf("x"), "algorithm": "PDQ", "file_type": "png"},
			map[string]any{"id": 2, "hash_digest": "abcd", "algorithm": "TMK", "file_type": "mp4"},
		}})
		return true
	})
	p, err := f.Next(context.Background(), "")
	if err != nil || len(p.Records) != 1 || p.Rejected != 1 || len(p.Bad) != 1 {
		t.Fatalf("Next = %d records, %d rejected, %v; want 1, 1", len(p.Records), p.Rejected, err)
	}
}

// TestCheckpointOfAnotherKind: ErrCheckpoint.
func TestCheckpointOfAnotherKind(t *testing.T) {
	fk, f, _ := setup(t, kindCaseOf(ThreatExchange))
	_ = fk
	for _, cp := range []Checkpoint{`{"kind":"tcap","v":1,"after":"1,2"}`, `not json`, `{"kind":"threatexchange","v":2}`} {
		if _, err := f.Next(context.Background(), cp); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("Next(%s) = %v, want ErrCheckpoint", cp, err)
		}
	}
}

// TestCancel: a context cancelled while waiting to retry ends the fetch
// with its error.
func TestCancel(t *testing.T) {
	kc := kindCaseOf(ThreatExchange)
	fk, _, _ := setup(t, kc)
	ctx, cancel := context.WithCancel(context.Background())
	f, err := New(kc.config(fk.srv.URL), kc.creds, Options{Now: fk.store.clock,
		Sleep: func(c context.Context, d time.Duration) error { cancel(); return sleep(c, d) }})
	if err != nil {
		t.Fatal(err)
	}
	fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusInternalServerError)
		return true
	})
	if _, err := f.Next(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v, want context.Canceled", err)
	}
}

// TestCredentials reads credentials from files and the environment,
// refuses a file open to others, and never prints a secret.
func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := LoadCredentials(write("json", `{"username": "esp", "password": "`+canary+`"}`, 0o600))
	if err != nil || c.Username != "esp" || c.Password != canary {
		t.Errorf("LoadCredentials(json) = %v, %v", c, err)
	}
	c, err = LoadCredentials(write("token", canary+"\n", 0o400))
	if err != nil || c.Token != canary {
		t.Errorf("LoadCredentials(token) = %v, %v", c, err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		_, err := LoadCredentials(write("open", canary, mode))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "0600") {
			t.Errorf("LoadCredentials(mode %v) = %v, want ErrConfig saying 0600", mode, err)
		}
		noCanary(t, "error", fmt.Sprint(err))
	}
	if _, err := LoadCredentials(write("bad", `{"token": "`+canary+`", "extra": 1`, 0o600)); !errors.Is(err, ErrConfig) {
		t.Errorf("LoadCredentials(bad JSON) = %v, want ErrConfig", err)
	} else {
		noCanary(t, "error", err.Error())
	}
	t.Setenv("MM_TEST_EXCHANGE_CREDS", `{"subscription_key": "a`+canary+`", "function_key": "b`+canary+`"}`)
	c, err = CredentialsFromEnv("MM_TEST_EXCHANGE_CREDS")
	if err != nil || c.SubscriptionKey != "a"+canary {
		t.Errorf("CredentialsFromEnv = %v, %v", c, err)
	}
	if _, err := CredentialsFromEnv("MM_TEST_EXCHANGE_UNSET"); !errors.Is(err, ErrConfig) {
		t.Errorf("CredentialsFromEnv(unset) = %v, want ErrConfig", err)
	}
	c = Credentials{Token: canary, Password: canary, SubscriptionKey: canary, FunctionKey: canary}
	noCanary(t, "formatted credentials", fmt.Sprintf("%v %+v %#v %s", c, c, c, c))
	for _, k := range Kinds() {
		if k == URL {
			continue
		}
		if _, err := New(Config{Kind: k, PrivacyGroup: "1"}, Credentials{}, Options{}); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%s) without credentials = %v, want ErrConfig", k, err)
		}
	}
}

// TestRetryAfterParse reads both forms of Retry-After.
func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{"0", 0, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"", 0, false},
		{"soon", 0, false},
		{"-3", 0, false},
	} {
		got, ok := retryAfter(tc.v, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// TestTERateLimit: the Graph API's rate limit (a 400 with code 4) is
// retried; its bad token (code 190) is ErrAuth (TestAuthFailure).
func TestTERateLimit(t *testing.T) {
	kc := kindCaseOf(ThreatExchange)
	fk, f, _ := setup(t, kc)
	fk.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n != 2 {
			return false
		}
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]any{"error": map[string]any{"message": "Application request limit reached", "type": "OAuthException", "code": 4}})
		return true
	})
	m := state{}
	run(t, f, "", m)
	equal(t, "after a rate limit", m, fk, kc)
	if n := fk.count(); n < 5 {
		t.Errorf("%d requests, want the retried one among at least 5", n)
	}
}

// TestNewConfig: New refuses what it cannot fetch.
func TestNewConfig(t *testing.T) {
	tok := Credentials{Token: canary}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"unknown kind", Config{Kind: "ftp", BaseURL: "http://x"}},
		{"url without address", Config{Kind: URL}},
		{"not http", Config{Kind: URL, BaseURL: "file:///etc/passwd"}},
		{"user in URL", Config{Kind: URL, BaseURL: "https://me:" + canary + "@x/list"}},
		{"no privacy group", Config{Kind: ThreatExchange}},
		{"privacy group path", Config{Kind: ThreatExchange, PrivacyGroup: "1/../2"}},
		{"ideology", Config{Kind: TCAP, Ideology: "none"}},
		{"format", Config{Kind: URL, BaseURL: "http://x", Format: "xls"}},
	} {
		_, err := New(tc.cfg, tok, Options{})
		if !errors.Is(err, ErrConfig) {
			t.Errorf("New(%s) = %v, want ErrConfig", tc.name, err)
			continue
		}
		noCanary(t, "error", err.Error())
	}
}

// TestRedactURL replaces secret parameters and user information.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://graph.facebook.com/v21.0/1/threat_updates?access_token=1%7Cabc&limit=5": "https://graph.facebook.com/v21.0/1/threat_updates?access_token=REDACTED&limit=5",
		"https://u:p@x/list?Token=abc": "https://REDACTED@x/list?Token=REDACTED",
		"https://x/a?after=1,2":        "https://x/a?after=1,2",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactURL(u); got != want {
			t.Errorf("redactURL(%s) = %s, want %s", in, got, want)
		}
	}
	b, err := json.Marshal(struct{ C Credentials }{Credentials{Token: canary}})
	if err != nil {
		t.Fatal(err)
	}
	noCanary(t, "credentials as JSON", string(b))
}
