package exchange

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file holds the fake exchanges: real HTTP servers (httptest) that
// answer each kind's documented requests from one store of entries, check
// the requests' credentials and parameters, and take faults injected by a
// function field.

// canary is the secret of every fake: no error, checkpoint or record of
// the package may contain it.
const canary = "CANARY-s3cr3t-7f1d9a"

// fakeEntry is one entry of an exchange.
type fakeEntry struct {
	id      string
	hash    string // PDQ, lowercase hex
	deleted bool
	updated int64 // Unix seconds
	seq     int   // order of change, for entries changed in the same second
}

// key orders entries by change: (updated, seq).
func (e *fakeEntry) key() string { return fmt.Sprintf("%d,%d", e.updated, e.seq) }

func (e *fakeEntry) after(k string) bool {
	if k == "" {
		return true
	}
	u, s, _ := strings.Cut(k, ",")
	ku, _ := strconv.ParseInt(u, 10, 64)
	ks, _ := strconv.Atoi(s)
	return e.updated > ku || e.updated == ku && e.seq > ks
}

// fakeStore is an exchange's content, with its clock.
type fakeStore struct {
	mu      sync.Mutex
	now     int64
	seq     int
	entries map[string]*fakeEntry
	version int // hashes of an entry change with it
	// keepHash makes an update keep the entry's hash, for exchanges
	// whose entries are their hash (StopNCII): it changes only the time.
	keepHash bool
}

func newFakeStore() *fakeStore {
	return &fakeStore{now: 1_700_000_000, entries: map[string]*fakeEntry{}}
}

// pdqOf returns a PDQ hash, not constant, for the seed.
func pdqOf(seed string) string {
	s := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(s[:])
}

// clock returns the store's time, as Options.Now.
func (s *fakeStore) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Unix(s.now, 0)
}

// tick moves the clock on by a second.
func (s *fakeStore) tick() {
	s.mu.Lock()
	s.now++
	s.mu.Unlock()
}

// put adds or updates the entry id with a new hash.
func (s *fakeStore) put(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.version++
	h := pdqOf(fmt.Sprintf("%s/%d", id, s.version))
	if old, ok := s.entries[id]; ok && s.keepHash {
		h = old.hash
	}
	s.entries[id] = &fakeEntry{id: id, hash: h, updated: s.now, seq: s.seq}
}

// del deletes the entry id (a tombstone stays, as exchanges keep them).
func (s *fakeStore) del(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	e := s.entries[id]
	e.deleted, e.updated, e.seq = true, s.now, s.seq
}

// changed returns the entries changed in [from, to] (to < 0: no bound)
// after the key after, in order of change.
func (s *fakeStore) changed(from, to int64, after string) []fakeEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fakeEntry
	for _, e := range s.entries {
		if e.updated >= from && (to < 0 || e.updated <= to) && e.after(after) {
			out = append(out, *e)
		}
	}
	slices.SortFunc(out, func(a, b fakeEntry) int {
		if a.updated != b.updated {
			return int(a.updated - b.updated)
		}
		return a.seq - b.seq
	})
	return out
}

// live returns what the exchange holds: id -> hash of each entry not
// deleted, with ids as idOf makes them.
func (s *fakeStore) live(idOf func(fakeEntry) string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]string{}
	for _, e := range s.entries {
		if !e.deleted {
			m[idOf(*e)] = e.hash
		}
	}
	return m
}

// fake is a fake exchange: a store, a server, the handler of its kind,
// and a fault injector.
type fake struct {
	t        *testing.T
	store    *fakeStore
	srv      *httptest.Server
	pageSize int
	// fault, if set, sees each request (n counts them from 1) before the
	// handler, and answers it itself by returning true.
	fault    func(w http.ResponseWriter, r *http.Request, n int) bool
	mu       sync.Mutex
	requests int
	// echo, if set, makes a refused request's body repeat the credential
	// it got, as careless servers do.
	echo bool
}

func newFake(t *testing.T, h func(f *fake, w http.ResponseWriter, r *http.Request)) *fake {
	f := &fake{t: t, store: newFakeStore(), pageSize: 3}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests++
		n, fault := f.requests, f.fault
		f.mu.Unlock()
		if fault != nil && fault(w, r, n) {
			return
		}
		h(f, w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *fake) setFault(fn func(w http.ResponseWriter, r *http.Request, n int) bool) {
	f.mu.Lock()
	f.fault = fn
	f.mu.Unlock()
}

// refuse answers a request with bad credentials.
func (f *fake) refuse(w http.ResponseWriter, status int, got string) {
	w.WriteHeader(status)
	if f.echo {
		fmt.Fprintf(w, "credential %q is not valid", got)
	}
}

// badRequest fails the test for a request that does not follow the API,
// and answers 400.
func (f *fake) badRequest(w http.ResponseWriter, format string, args ...any) {
	f.t.Errorf("fake: "+format, args...)
	http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// page returns up to n entries of es and whether more are left.
func page(es []fakeEntry, n int) ([]fakeEntry, bool) {
	if len(es) > n {
		return es[:n], true
	}
	return es, false
}

// teHandler is ThreatExchange's threat_updates: GET
// /<version>/<privacy group>/threat_updates with access_token, fields,
// limit, start_time, stop_time and types; pages of {"data": [...],
// "paging": {"cursors": {...}, "next": URL}}, next carrying the
// parameters and the access token as the Graph API does. A bad token is
// a 400 OAuthException.
func teHandler(f *fake, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if got := q.Get("access_token"); got != canary {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		msg := "Invalid OAuth access token."
		if f.echo {
			msg += " Got " + got
		}
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "OAuthException", "code": 190}})
		return
	}
	if r.URL.Path != "/"+DefaultTEVersion+"/1234/threat_updates" {
		f.badRequest(w, "threatexchange: path %s", r.URL.Path)
		return
	}
	for _, p := range []string{"fields", "limit", "stop_time", "types"} {
		if q.Get(p) == "" {
			f.badRequest(w, "threatexchange: no %s in %s", p, r.URL.RawQuery)
			return
		}
	}
	if !strings.Contains(q.Get("types"), "HASH_PDQ") || !strings.Contains(q.Get("fields"), "should_delete") {
		f.badRequest(w, "threatexchange: types %q fields %q", q.Get("types"), q.Get("fields"))
		return
	}
	start, _ := strconv.ParseInt(q.Get("start_time"), 10, 64)
	stop, _ := strconv.ParseInt(q.Get("stop_time"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	es, more := page(f.store.changed(start, stop, q.Get("after")), min(limit, f.pageSize))
	data := []map[string]any{}
	for _, e := range es {
		data = append(data, map[string]any{"id": e.id, "indicator": e.hash, "type": "HASH_PDQ",
			"should_delete": e.deleted, "last_updated": e.updated, "creation_time": e.updated,
			"tags": []string{"gifct", "media_type_photo"}})
	}
	paging := map[string]any{}
	if len(es) > 0 {
		paging["cursors"] = map[string]string{"before": es[0].key(), "after": es[len(es)-1].key()}
	}
	if more {
		q.Set("after", es[len(es)-1].key())
		paging["next"] = "http://" + r.Host + r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, map[string]any{"data": data, "paging": paging})
}

// tcapHandler is TCAP: POST /token-auth/tcap/ with username and password
// gives {"token"}; GET /api/hash-list/v2/all?order=asc&after=<checkpoint>
// with "Authorization: Bearer <token>" gives {"count", "next",
// "previous", "checkpoint", "results"}, results in ascending order of
// update after the checkpoint ("<updated>,<id>" of the last entry).
func tcapHandler(f *fake, w http.ResponseWriter, r *http.Request) {
	const jwt = "jwt." + canary
	switch r.URL.Path {
	case "/token-auth/tcap/":
		if r.Method != http.MethodPost {
			f.badRequest(w, "tcap: %s token-auth", r.Method)
			return
		}
		if r.PostFormValue("username") != "analyst" || r.PostFormValue("password") != canary {
			f.refuse(w, http.StatusUnauthorized, r.PostFormValue("password"))
			return
		}
		writeJSON(w, map[string]string{"token": jwt})
		return
	case "/api/hash-list/v2/all":
	default:
		f.badRequest(w, "tcap: path %s", r.URL.Path)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+jwt && got != "Bearer "+canary {
		f.refuse(w, http.StatusUnauthorized, got)
		return
	}
	q := r.URL.Query()
	if q.Get("order") != "asc" {
		f.badRequest(w, "tcap: order %q", q.Get("order"))
		return
	}
	es, more := page(f.store.changed(0, -1, q.Get("after")), f.pageSize)
	results := []map[string]any{}
	for _, e := range es {
		results = append(results, map[string]any{"id": e.id, "hash_digest": e.hash, "algorithm": "PDQ",
			"ideology": "islamist", "file_type": "jpg", "deleted": e.deleted, "updated_on": float64(e.updated) + 0.5})
	}
	cp := q.Get("after")
	if len(es) > 0 {
		cp = es[len(es)-1].key()
	}
	var next any
	if more {
		next = "http://" + r.Host + r.URL.Path + "?limit=3&offset=3"
	}
	writeJSON(w, map[string]any{"count": len(results), "next": next, "previous": nil, "checkpoint": cp, "results": results})
}

// stopNCIIHandler is StopNCII's FetchHashes: GET /FetchHashes with
// startTimestamp, pageSize and nextPageToken, the headers
// Ocp-Apim-Subscription-Key and x-functions-key; {"count",
// "nextPageToken", "nextSetTimestamp", "hasMoreRecords", "hashRecords"}.
// Its entries have no ids: a hash is its record.
func stopNCIIHandler(f *fake, w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/FetchHashes" {
		f.badRequest(w, "stopncii: path %s", r.URL.Path)
		return
	}
	if r.Header.Get("Ocp-Apim-Subscription-Key") != "sub-"+canary || r.Header.Get("x-functions-key") != "fn-"+canary {
		f.refuse(w, http.StatusUnauthorized, r.Header.Get("x-functions-key"))
		return
	}
	q := r.URL.Query()
	start, err := strconv.ParseInt(q.Get("startTimestamp"), 10, 64)
	if err != nil || q.Get("pageSize") == "" {
		f.badRequest(w, "stopncii: query %s", r.URL.RawQuery)
		return
	}
	all := f.store.changed(start, -1, "")
	es, more := page(f.store.changed(start, -1, q.Get("nextPageToken")), f.pageSize)
	records := []map[string]any{}
	for _, e := range es {
		status := "Active"
		if e.deleted {
			status = "Withdrawn"
		}
		records = append(records, map[string]any{"lastModtimestamp": e.updated, "signalType": "ImagePDQ",
			"hashValue": e.hash, "hashStatus": status, "caseNumbers": map[string]string{}, "CSPFeedbacks": []any{}})
	}
	setTS := start
	if len(all) > 0 {
		setTS = all[len(all)-1].updated
	}
	token := ""
	if more {
		token = es[len(es)-1].key()
	}
	writeJSON(w, map[string]any{"count": len(records), "nextPageToken": token, "nextSetTimestamp": setTS,
		"hasMoreRecords": more, "hashRecords": records})
}

// ncmecHandler is NCMEC's hash sharing: GET /v2/entries?from=&to= with
// basic authentication; XML <queryResult> with <images> of <image> and
// <deletedImage>, and <paging><next> a path with start, size and max.
func ncmecHandler(f *fake, w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != "esp" || p != canary {
		f.refuse(w, http.StatusUnauthorized, p)
		return
	}
	if r.URL.Path != "/v2/entries" {
		f.badRequest(w, "ncmec: path %s", r.URL.Path)
		return
	}
	q := r.URL.Query()
	from, err1 := time.Parse(ncmecTime, q.Get("from"))
	to, err2 := time.Parse(ncmecTime, q.Get("to"))
	if err1 != nil || err2 != nil {
		f.badRequest(w, "ncmec: from %q to %q", q.Get("from"), q.Get("to"))
		return
	}
	// start is an entry id (here the change sequence), not an offset:
	// an entry changed since the link was made leaves the window without
	// shifting the others.
	all := f.store.changed(from.Unix(), to.Unix(), "")
	start, _ := strconv.Atoi(q.Get("start"))
	for len(all) > 0 && all[0].seq < start {
		all = all[1:]
	}
	es, more := page(all, f.pageSize)
	type fp struct {
		PDQ string `xml:"pdq"`
	}
	type ent struct {
		XMLName   xml.Name
		Member    string `xml:"member"`
		Timestamp string `xml:"timestamp"`
		ID        string `xml:"id"`
		Class     string `xml:"classification,omitempty"`
		FP        *fp    `xml:"fingerprints,omitempty"`
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n")
	b.WriteString(`<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2"><images count="` + strconv.Itoa(len(es)) + `">`)
	for _, e := range es {
		x := ent{XMLName: xml.Name{Local: "image"}, Member: "Member", Timestamp: time.Unix(e.updated, 0).UTC().Format(time.RFC3339),
			ID: e.id, Class: "A1", FP: &fp{PDQ: e.hash}}
		if e.deleted {
			x.XMLName.Local, x.Class, x.FP = "deletedImage", "", nil
		}
		out, _ := xml.Marshal(x)
		b.Write(out)
	}
	b.WriteString(`</images>`)
	if more {
		nq := url.Values{"from": {q.Get("from")}, "to": {q.Get("to")}, "start": {strconv.Itoa(es[len(es)-1].seq + 1)},
			"size": {strconv.Itoa(f.pageSize)}, "max": {strconv.Itoa(all[len(all)-1].seq)}}
		b.WriteString(`<paging><next>/v2/entries?` + xmlEscape(nq.Encode()) + `</next></paging>`)
	}
	b.WriteString(`</queryResult>`)
	w.Header().Set("Content-Type", "application/xml")
	w.Write([]byte(b.String()))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// urlHandler serves the store as a list file in the lines format ("pdq
// <hex>" a line, ids made from the hash), with an ETag and
// Last-Modified, answering 304 to a matching If-None-Match.
func urlHandler(f *fake, w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("Authorization"); got != "Bearer "+canary {
		f.refuse(w, http.StatusForbidden, got)
		return
	}
	var b strings.Builder
	b.WriteString("# the list\n")
	for _, e := range f.store.changed(0, -1, "") {
		if !e.deleted {
			b.WriteString("pdq " + e.hash + "\n")
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", f.store.clock().UTC().Format(http.TimeFormat))
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write([]byte(b.String()))
}
