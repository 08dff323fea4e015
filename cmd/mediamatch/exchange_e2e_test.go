package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The end-to-end tests of partner exchanges: `mediamatch exchange` with the
// real binary against a real server process, fetching from fake exchanges
// (httptest servers that speak the kinds' documented forms).

// exchangeCanary is the credential of the fake exchanges: no output of any
// command, no line of the server's log and no audit entry may hold it.
const exchangeCanary = "CANARY-e2e-5ecr3t-91c4"

// urlFake is a list file at a URL that wants a bearer token: its content
// changes between fetches, as a partner's list does.
type urlFake struct {
	mu       sync.Mutex
	body     []byte
	refuse   bool // answer 401 whatever the token
	requests int
	srv      *httptest.Server
}

func newURLFake(t *testing.T) *urlFake {
	f := &urlFake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests++
		if f.refuse || r.Header.Get("Authorization") != "Bearer "+exchangeCanary {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write(f.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *urlFake) set(l crashList, refuse bool) {
	var b bytes.Buffer
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range l {
			if !yield(id) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, `{"id":%q,"labels":{"v":%q},"media":{"kind":"image","keyframes":[{"index":0,"signals":[{"type":"pdq","hash":%q,"quality":90}]}]}}`+"\n",
			id, l[id][0], l[id][1])
	}
	f.mu.Lock()
	f.body, f.refuse = b.Bytes(), refuse
	f.mu.Unlock()
}

func (f *urlFake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// e2eHash is a PDQ hash, hex, made from seed.
func e2eHash(seed string) string {
	s := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(s[:])
}

// bankList exports bank and returns it as a crashList (id -> label v,
// hash), failing on an id listed twice.
func bankList(t *testing.T, cli func(args ...string) result, bank string) crashList {
	t.Helper()
	out := cli("export", "--bank", bank).ok(t).stdout
	got := crashList{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var it struct {
			ID     string            `json:"id"`
			Labels map[string]string `json:"labels"`
			Media  struct {
				Keyframes []struct{ Signals []struct{ Hash string } }
			}
		}
		decodeLine(t, line, &it)
		if _, dup := got[it.ID]; dup {
			t.Fatalf("bank %s lists %s twice", bank, it.ID)
		}
		got[it.ID] = [2]string{it.Labels["v"], it.Media.Keyframes[0].Signals[0].Hash}
	}
	return got
}

// exchangeStatusJSON is `exchange status --json`.
type exchangeStatusJSON struct {
	Name        string `json:"name"`
	Paused      bool   `json:"paused"`
	Credentials string `json:"credentials"`
	Status      struct {
		LastSuccess string `json:"last_success_time"`
		LastError   string `json:"last_error"`
		AuthFailed  bool   `json:"auth_failed"`
		Total       struct{ Added, Updated, Deleted int64 }
		LastRun     struct{ Added, Updated, Deleted, Unchanged int64 } `json:"last_run"`
		Checkpoint  string                                             `json:"checkpoint"`
		Running     bool                                               `json:"running"`
	} `json:"status"`
}

// TestEndToEndExchange adds an exchange of a list file at a URL through
// the CLI and follows it through changes of the list, a pause, a refusal
// of its credentials and a resume; no credential may show anywhere.
func TestEndToEndExchange(t *testing.T) {
	tmp := t.TempDir()
	bin := buildBinary(t, tmp)
	data := filepath.Join(tmp, "data")
	srv := startServer(t, bin, data)
	defer func() {
		if !srv.exited {
			srv.stop(t)
		}
	}()
	var outputs strings.Builder // every command's output, for the canary check
	cli := func(args ...string) result {
		r := runCLI(t, bin, srv.addr, nil, args...)
		outputs.WriteString(r.stdout + r.stderr)
		return r
	}
	status := func() exchangeStatusJSON {
		t.Helper()
		var st exchangeStatusJSON
		decodeLine(t, cli("--json", "exchange", "status", "partner").ok(t).stdout, &st)
		return st
	}
	// eventually polls cond until it holds (no timing is asserted: the
	// deadline only bounds a broken server).
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a minute", what)
			}
		}
	}

	fake := newURLFake(t)
	v1 := crashList{}
	for i := range 50 {
		v1[fmt.Sprintf("p-%03d", i)] = [2]string{"a", e2eHash(fmt.Sprint("v1-", i))}
	}
	fake.set(v1, false)
	credFile := filepath.Join(tmp, "partner.credentials")
	writeFile(t, credFile, []byte(`{"token": "`+exchangeCanary+`"}`))

	cli("bank", "create", "partner").ok(t)
	r := cli("exchange", "add", "--help").ok(t)
	if !strings.Contains(r.stdout, "0600") || !strings.Contains(r.stdout, "--credentials-env") {
		t.Errorf("exchange add --help does not say where credentials go:\n%s", r.stdout)
	}
	if r := cli("exchange", "add", "partner", "--bank", "partner", "--kind", "url", "--base-url", fake.srv.URL,
		"--credentials-file", credFile, "--credentials-env", "X"); r.code == 0 {
		t.Errorf("add with a file and a variable: %v, want a usage error", r)
	}
	cli("exchange", "add", "partner", "--bank", "partner", "--kind", "url", "--base-url", fake.srv.URL,
		"--credentials-file", credFile, "--interval", "1s").ok(t)
	stored := filepath.Join(data, "exchanges", "partner.credentials")
	if fi, err := os.Stat(stored); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("stored credentials: %v, %v; want a file of mode 0600", fi, err)
	}

	// The first fetch: the bank holds the list.
	var sum struct {
		Pages  int `json:"pages"`
		Counts struct{ Added, Updated, Deleted, Unchanged int64 }
		Error  string `json:"error"`
	}
	decodeLine(t, cli("--json", "exchange", "fetch", "partner").ok(t).stdout, &sum)
	if got := bankList(t, cli, "partner"); !maps.Equal(got, v1) {
		t.Fatalf("after the first fetch the bank has %d items, want the list's %d", len(got), len(v1))
	}

	// The list changes: 10 added, 5 updated, 5 removed.
	cli("exchange", "pause", "partner").ok(t) // only the fetches below apply it
	v2 := crashList{}
	for id, v := range v1 {
		v2[id] = v
	}
	for i := 50; i < 60; i++ {
		v2[fmt.Sprintf("p-%03d", i)] = [2]string{"a", e2eHash(fmt.Sprint("v2-", i))}
	}
	for i := range 5 {
		v2[fmt.Sprintf("p-%03d", i)] = [2]string{"b", e2eHash(fmt.Sprint("v2-", i))}
		delete(v2, fmt.Sprintf("p-%03d", 10+i))
	}
	fake.set(v2, false)
	decodeLine(t, cli("--json", "exchange", "fetch", "partner").ok(t).stdout, &sum)
	if sum.Counts.Added != 10 || sum.Counts.Updated != 5 || sum.Counts.Deleted != 5 || sum.Error != "" {
		t.Errorf("fetch of the changed list = %+v, want 10 added, 5 updated, 5 deleted", sum)
	}
	if got := bankList(t, cli, "partner"); !maps.Equal(got, v2) {
		t.Fatalf("after the changed list the bank has %d items, want the list's %d", len(got), len(v2))
	}
	st := status()
	if st.Status.Total.Added != 60 || st.Status.Total.Updated != 5 || st.Status.Total.Deleted != 5 ||
		!strings.Contains(st.Status.Checkpoint, `"kind":"url"`) || st.Status.LastSuccess == "" || st.Credentials != "file" {
		t.Errorf("status = %+v, want totals 60/5/5, a url checkpoint, a last success, credentials in a file", st)
	}
	if r := cli("exchange", "status", "partner").ok(t); !strings.Contains(r.stdout, "checkpoint") || !strings.Contains(r.stdout, "lag") {
		t.Errorf("exchange status:\n%s", r.stdout)
	}

	// Paused: no scheduled fetch, although its interval is 1s. Waiting is
	// the only way to see that something does not happen.
	n := fake.count()
	time.Sleep(3 * time.Second)
	if got := fake.count(); got != n {
		t.Errorf("a paused exchange was fetched %d times", got-n)
	}
	// Resumed: the schedule fetches it again.
	cli("exchange", "resume", "partner").ok(t)
	eventually("a scheduled fetch after resume", func() bool { return fake.count() > n })

	// Refused credentials: the fetch says so, the status shows it, and the
	// exchange is not fetched again until resumed.
	fake.set(v2, true)
	cli("exchange", "pause", "partner").ok(t)
	if r := cli("--json", "exchange", "fetch", "partner"); r.code == 0 || !strings.Contains(r.stdout, "credentials refused") {
		t.Errorf("fetch refused by the exchange: %v, want exit 1 and the refusal", r)
	}
	cli("exchange", "resume", "partner").ok(t)
	eventually("the scheduled fetch refused", func() bool { return status().Status.AuthFailed })
	st = status()
	if !st.Status.AuthFailed || !strings.Contains(st.Status.LastError, "401") {
		t.Errorf("status after a 401 = %+v, want auth_failed and the error", st.Status)
	}
	if r := cli("exchange", "list").ok(t); !strings.Contains(r.stdout, "stopped (credentials refused)") {
		t.Errorf("exchange list:\n%s", r.stdout)
	}
	n = fake.count()
	time.Sleep(3 * time.Second)
	if got := fake.count(); got != n {
		t.Errorf("an exchange stopped by refused credentials was fetched %d times", got-n)
	}
	if got := bankList(t, cli, "partner"); !maps.Equal(got, v2) {
		t.Errorf("the refusal changed the bank")
	}
	fake.set(v2, false)
	cli("exchange", "resume", "partner").ok(t)
	eventually("a fetch after the credentials work again", func() bool {
		st := status()
		return !st.Status.AuthFailed && st.Status.LastError == "" && fake.count() > n
	})

	cli("exchange", "delete", "partner").ok(t)
	if _, err := os.Stat(stored); !os.IsNotExist(err) {
		t.Errorf("after delete the credentials file: %v, want it gone", err)
	}
	if got := bankList(t, cli, "partner"); !maps.Equal(got, v2) {
		t.Errorf("deleting the exchange changed its bank")
	}

	audit := cli("--json", "audit").ok(t).stdout
	for _, what := range []string{"AddExchange", "FetchExchange", "PauseExchange", "ResumeExchange", "DeleteExchange"} {
		if !strings.Contains(audit, what) {
			t.Errorf("audit log lacks %s", what)
		}
	}
	srv.stop(t)
	for name, text := range map[string]string{"command output": outputs.String(), "server log": srv.logs.String(), "audit log": audit} {
		if strings.Contains(text, exchangeCanary) {
			t.Errorf("the credential shows in the %s", name)
		}
	}
}

// teFake is a ThreatExchange privacy group (threat_updates) of n entries
// whose every entry changes at each round: a new hash, and a tenth deleted
// (another tenth each round, the last round's back). Pages are cursor
// paged by position in the round's changes.
type teFake struct {
	mu     sync.Mutex
	n      int
	round  int
	base   int64 // last_updated of round 0, in the past
	srv    *httptest.Server
	served int // records served
}

func (f *teFake) deleted(i int) bool { return f.round > 0 && i%10 == f.round%10 }
func (f *teFake) hash(i int) string  { return e2eHash(fmt.Sprintf("te-%d-%d", i, f.round)) }

// live returns what the exchange holds, as hashes.
func (f *teFake) live() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for i := range f.n {
		if !f.deleted(i) {
			out = append(out, f.hash(i))
		}
	}
	slices.Sort(out)
	return out
}

// hashesAt returns the hashes the bank holds if the round's changes
// before position done are applied and the others not: what a checkpoint
// in the middle of a round covers.
func (f *teFake) hashesAt(done int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for i := range f.n {
		r := f.round
		if i >= done {
			r--
		}
		old := teFake{round: r}
		if r >= 0 && !old.deleted(i) {
			out = append(out, old.hash(i))
		}
	}
	slices.Sort(out)
	return out
}

func newTEFake(t *testing.T, n int) *teFake {
	f := &teFake{n: n, base: time.Now().Add(-time.Hour).Unix()}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("access_token") != exchangeCanary {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		start, _ := strconv.ParseInt(q.Get("start_time"), 10, 64)
		limit, _ := strconv.Atoi(q.Get("limit"))
		after, _ := strconv.Atoi(q.Get("after"))
		updated := f.base + int64(f.round)
		if updated < start {
			after = f.n // nothing changed since
		}
		end := min(after+limit, f.n)
		var b bytes.Buffer
		b.WriteString(`{"data":[`)
		for i := after; i < end; i++ {
			if i > after {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"%d","indicator":"%s","type":"HASH_PDQ","should_delete":%t,"last_updated":%d,"creation_time":%d,"tags":["gifct"]}`,
				9000000+i, f.hash(i), f.deleted(i), updated, f.base)
		}
		f.served += end - after
		b.WriteString(`],"paging":{`)
		if end < f.n {
			q.Set("after", strconv.Itoa(end))
			fmt.Fprintf(&b, `"next":%q`, "http://"+r.Host+r.URL.Path+"?"+q.Encode())
		}
		b.WriteString(`}}`)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b.Bytes())
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// bankHashes exports bank and returns its items' hashes, sorted.
func bankHashes(t *testing.T, cli func(args ...string) result, bank string) []string {
	t.Helper()
	var out []string
	for _, v := range bankList(t, cli, bank) {
		out = append(out, v[1])
	}
	slices.Sort(out)
	return out
}

// TestEndToEndExchangeCrash kills the server with SIGKILL at random
// points of fetches of a ThreatExchange privacy group in pages of 1000
// (each round changes every entry: new hashes, a tenth deleted), restarts
// it, and checks that the bank is exactly what the stored checkpoint
// covers (the round's changes applied up to its page, none after), then
// that a finished fetch makes the bank equal the exchange's content, no
// item lost or duplicated.
//
// MEDIAMATCH_EXCHANGE_CRASH_ENTRIES (default 10000) and
// MEDIAMATCH_EXCHANGE_CRASH_ROUNDS (default 3) size it for CI; the full
// run is 100000 entries, 10 rounds:
//
//	MEDIAMATCH_EXCHANGE_CRASH_ENTRIES=100000 MEDIAMATCH_EXCHANGE_CRASH_ROUNDS=10 \
//	  go test -run ExchangeCrash -v -timeout 60m ./cmd/mediamatch/
func TestEndToEndExchangeCrash(t *testing.T) {
	envInt := func(name string, def int) int {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q, want a positive number", name, s)
			}
			return n
		}
		return def
	}
	entries, rounds := envInt("MEDIAMATCH_EXCHANGE_CRASH_ENTRIES", 10000), envInt("MEDIAMATCH_EXCHANGE_CRASH_ROUNDS", 3)
	tmp := t.TempDir()
	bin := buildBinary(t, tmp)
	data := filepath.Join(tmp, "data")
	srv := startServer(t, bin, data)
	defer func() { srv.stop(t) }()
	cli := func(args ...string) result { return runCLI(t, bin, srv.addr, nil, args...) }

	fake := newTEFake(t, entries)
	credFile := filepath.Join(tmp, "te.credentials")
	writeFile(t, credFile, []byte(exchangeCanary+"\n"))
	cli("bank", "create", "gifct").ok(t)
	// Timed from the add: the run starts at the scheduler's next tick
	// (within a second), so the rate is if anything understated.
	start := time.Now()
	cli("exchange", "add", "gifct", "--bank", "gifct", "--kind", "threatexchange", "--base-url", fake.srv.URL,
		"--privacy-group", "1234", "--credentials-file", credFile, "--interval", "24h").ok(t)
	// The first run is the schedule's (an exchange never fetched is due at
	// once); fetch waits for it, and the run it makes itself is empty.
	cli("exchange", "fetch", "gifct").ok(t)
	first := time.Since(start)
	if got, want := bankHashes(t, cli, "gifct"), fake.live(); !slices.Equal(got, want) {
		t.Fatalf("after the first fetch the bank has %d items, want %d", len(got), len(want))
	}
	// The same entries as one threat_updates document, imported from a
	// local file: the rate a fetch is compared with.
	resp, err := http.Get(fake.srv.URL + "/v21.0/1234/threat_updates?access_token=" + exchangeCanary + "&limit=" + strconv.Itoa(entries))
	if err != nil {
		t.Fatal(err)
	}
	var doc bytes.Buffer
	doc.ReadFrom(resp.Body)
	resp.Body.Close()
	listFile := filepath.Join(tmp, "te-updates.json")
	writeFile(t, listFile, doc.Bytes())
	cli("bank", "create", "imported").ok(t)
	start = time.Now()
	cli("import", "--bank", "imported", "--format", "te-updates", listFile).ok(t)
	imported := time.Since(start)
	t.Logf("%d entries: first fetch %v (%.0f entries/s), import of the same from a file %v (%.0f entries/s): fetch rate %.2fx import's",
		entries, first.Round(time.Millisecond), float64(entries)/first.Seconds(), imported.Round(time.Millisecond),
		float64(entries)/imported.Seconds(), imported.Seconds()/first.Seconds())

	var mid, before, after int
	for round := 1; round <= rounds; round++ {
		fake.mu.Lock()
		fake.round = round
		fake.mu.Unlock()
		fetch := exec.Command(bin, "exchange", "fetch", "gifct")
		fetch.Env = append(os.Environ(), "MEDIAMATCH_SERVER="+srv.addr, "MEDIAMATCH_TOKEN=")
		if err := fetch.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(mrand.Int64N(int64(first) + 1)) // the kill point: every outcome is checked
		time.Sleep(delay)
		srv.kill(t)
		fetchErr := fetch.Wait()
		srv = startServer(t, bin, data)

		// The bank is what the stored checkpoint covers.
		var st exchangeStatusJSON
		decodeLine(t, cli("--json", "exchange", "status", "gifct").ok(t).stdout, &st)
		var cp struct {
			Since int64  `json:"since"`
			Next  string `json:"next"`
		}
		if err := json.Unmarshal([]byte(st.Status.Checkpoint), &cp); err != nil {
			t.Fatalf("round %d: checkpoint %q: %v", round, st.Status.Checkpoint, err)
		}
		done, side := 0, ""
		switch {
		case cp.Next != "":
			u, err := url.Parse(cp.Next)
			if err != nil {
				t.Fatal(err)
			}
			done, _ = strconv.Atoi(u.Query().Get("after"))
			side = fmt.Sprintf("mid-run, %d of %d applied", done, entries)
			mid++
		case cp.Since >= fake.base+int64(round):
			done, side = entries, "after the run"
			after++
		default:
			side = "before the run's first page"
			before++
		}
		if got, want := bankHashes(t, cli, "gifct"), fake.hashesAt(done); !slices.Equal(got, want) {
			t.Fatalf("round %d: killed after %v (%s): the bank has %d items, not the %d its checkpoint covers",
				round, delay.Round(time.Millisecond), side, len(got), len(want))
		}
		t.Logf("round %d: killed after %v: %s (fetch: %v)", round, delay.Round(time.Millisecond), side, fetchErr)

		// A finished fetch gives the exchange's content.
		cli("exchange", "fetch", "gifct").ok(t)
		if got, want := bankHashes(t, cli, "gifct"), fake.live(); !slices.Equal(got, want) {
			t.Fatalf("round %d: after the finished fetch the bank has %d items, want the exchange's %d", round, len(got), len(want))
		}
	}
	t.Logf("%d entries, %d rounds: %d kills mid-run, %d before a run's first page, %d after the run", entries, rounds, mid, before, after)
	if strings.Contains(srv.logs.String(), exchangeCanary) {
		t.Error("the credential shows in the server log")
	}
}
