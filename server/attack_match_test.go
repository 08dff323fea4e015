package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// Attacks on what a match reveals (rebuilding the bank's hashes from
// distances) and what it costs (calls of many pairs), run against a real
// server with the real guard over loopback.

// matchAttackItems adds n image items with random PDQ hashes (quality 100)
// to bank, each with a partner source, and returns their hashes by id.
func matchAttackItems(t *testing.T, ix *index.Index, bank string, n int, r *rand.Rand) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	if _, err := ix.CreateBank(ctx, mediamatch.Bank{Name: bank}); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, n)
	for i := range n {
		h := matchAttackHash(r)
		id := fmt.Sprintf("item-%03d", i)
		_, err := ix.AddItem(ctx, mediamatch.Item{Bank: bank, ID: id, Labels: map[string]string{"action": "block"},
			Media:  matchAttackStill(h),
			Source: &mediamatch.Source{Format: "te-updates", Partner: "partner-a", UpstreamID: fmt.Sprint(1000 + i)}})
		if err != nil {
			t.Fatal(err)
		}
		out[id] = h
	}
	return out
}

func matchAttackHash(r *rand.Rand) []byte {
	h := make([]byte, 32)
	for i := 0; i < 32; i += 8 {
		binary.BigEndian.PutUint64(h[i:], r.Uint64())
	}
	return h
}

func matchAttackStill(hashes ...[]byte) mediamatch.Media {
	m := mediamatch.Media{Kind: mediamatch.KindImage, Format: "png", Width: 64, Height: 64}
	for i, h := range hashes {
		m.Keyframes = append(m.Keyframes, mediamatch.Keyframe{Index: i,
			Signals: []mediamatch.Signal{{Type: mediamatch.PDQ, Hash: h, Quality: 100}}})
	}
	return m
}

func matchAttackRequest(probe []byte, threshold int32) *pb.MatchSignalsRequest {
	return &pb.MatchSignalsRequest{
		Media: pb.MediaToProto(matchAttackStill(probe)),
		Options: &pb.MatchOptions{MaxResults: 100, Thresholds: []*pb.Threshold{
			{Signal: pb.SignalType_SIGNAL_TYPE_PDQ, MaxDistance: threshold}}},
	}
}

// matchAttackReconstruct runs the bit-flip reconstruction as the caller
// of secret: one MatchSignals call with probe p at threshold, then one per
// bit with that bit of p flipped. An item whose distance went up when bit
// i flipped has bit i of p; one whose distance went down has the other.
// It returns the hashes it rebuilt, by item id, and the responses'
// matches for inspection. A refused call ends the attack with its error.
func matchAttackReconstruct(ctx context.Context, t *testing.T, c pb.MatchServiceClient, threshold int32) (map[string][]byte, []*pb.Match, error) {
	t.Helper()
	probe := make([]byte, 32)
	base, err := c.MatchSignals(ctx, matchAttackRequest(probe, threshold))
	if err != nil {
		return nil, nil, err
	}
	seen := base.GetMatches()
	d0 := map[string]int32{}
	for _, m := range base.GetMatches() {
		d0[m.GetItemId()] = m.GetDistance()
	}
	got := map[string][]byte{}
	for id := range d0 {
		got[id] = make([]byte, 32)
	}
	for bit := range 256 {
		p := make([]byte, 32)
		p[bit/8] ^= 0x80 >> (bit % 8)
		resp, err := c.MatchSignals(ctx, matchAttackRequest(p, threshold))
		if err != nil {
			return nil, seen, err
		}
		seen = append(seen, resp.GetMatches()...)
		for _, m := range resp.GetMatches() {
			id := m.GetItemId()
			base, ok := d0[id]
			if !ok {
				continue
			}
			switch d := m.GetDistance(); {
			case d < base: // flipping towards the item: its bit is 1
				got[id][bit/8] |= 0x80 >> (bit % 8)
			case d == base: // no information: the reconstruction fails
				delete(d0, id)
				delete(got, id)
			}
		}
	}
	return got, seen, nil
}

// TestAttackMatcherCannotExportBank: the 257-call bit-flip reconstruction
// of a bank's hashes from match distances. As a curator it rebuilds every
// PDQ hash of the bank exactly (the attack is real); as a matcher a wide
// threshold is refused, and at the ceiling the responses carry no
// distance and no source, so nothing is rebuilt.
func TestAttackMatcherCannotExportBank(t *testing.T) {
	e := newAuthEnv(t, authConfig{opts: Options{RateLimit: -1}})
	r := rand.New(rand.NewPCG(11, 1))
	items := matchAttackItems(t, e.ix, "partners", 6, r)
	curator := e.token(t, "curator", mediamatch.RoleCurator)
	matcher := e.token(t, "gateway", mediamatch.RoleMatcher)
	c := pb.NewMatchServiceClient(e.conn(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	got, _, err := matchAttackReconstruct(as(ctx, curator), t, c, 256)
	if err != nil {
		t.Fatalf("curator: %v", err)
	}
	rebuilt := 0
	for id, h := range items {
		if string(got[id]) == string(h) {
			rebuilt++
		}
	}
	if rebuilt != len(items) {
		t.Fatalf("curator rebuilt %d of %d hashes with the attack, want all: the attack itself is broken", rebuilt, len(items))
	}

	// As a matcher: threshold 256 is over the ceiling.
	got, _, err = matchAttackReconstruct(as(ctx, matcher), t, c, 256)
	if status.Code(err) != codes.PermissionDenied {
		rebuilt := 0
		for id, h := range items {
			if string(got[id]) == string(h) {
				rebuilt++
			}
		}
		t.Errorf("matcher at threshold 256: error = %v, want PermissionDenied; it rebuilt %d of %d hashes", err, rebuilt, len(items))
	} else {
		wantStatus(t, err, codes.PermissionDenied, "MatchSignalsRequest.options.thresholds[0].max_distance", "256", "31")
	}
	// At the ceiling, random probes are nowhere near any item.
	got, seen, err := matchAttackReconstruct(as(ctx, matcher), t, c, 31)
	if err != nil {
		t.Fatalf("matcher at threshold 31: %v", err)
	}
	for id, h := range items {
		if string(got[id]) == string(h) {
			t.Errorf("matcher rebuilt the hash of %s", id)
		}
	}
	if len(seen) != 0 {
		t.Errorf("matcher probing at the ceiling saw %d matches, want 0", len(seen))
	}
}

// TestAttackMatcherSeesNoDistance: a matcher holding a near-copy of an item
// learns that it matched, the item and bank, its labels and the threshold,
// but no distance (Match or FrameMatch) and no partner source; a curator
// sees both. So a matcher's responses are the same for every probe within
// the threshold.
func TestAttackMatcherSeesNoDistance(t *testing.T) {
	e := newAuthEnv(t, authConfig{opts: Options{RateLimit: -1}})
	r := rand.New(rand.NewPCG(11, 2))
	items := matchAttackItems(t, e.ix, "partners", 3, r)
	curator := e.token(t, "curator", mediamatch.RoleCurator)
	matcher := e.token(t, "gateway", mediamatch.RoleMatcher)
	moderator := e.token(t, "moderator", mediamatch.RoleModerator)
	c := pb.NewMatchServiceClient(e.conn(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	near := append([]byte(nil), items["item-001"]...)
	near[0] ^= 0xF0 // distance 4
	for _, who := range []struct {
		name, secret string
		full         bool
	}{{"curator", curator, true}, {"matcher", matcher, false}, {"moderator", moderator, false}} {
		t.Run(who.name, func(t *testing.T) {
			resp, err := c.MatchSignals(as(ctx, who.secret), &pb.MatchSignalsRequest{Media: pb.MediaToProto(matchAttackStill(near))})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetMatches()) != 1 {
				t.Fatalf("matches = %v, want item-001 alone", matchIDs(resp.GetMatches()))
			}
			m := resp.GetMatches()[0]
			if m.GetItemId() != "item-001" || m.GetBank() != "partners" || m.GetLabels()["action"] != "block" ||
				m.GetThreshold() != 31 || m.GetSignal() != pb.SignalType_SIGNAL_TYPE_PDQ || len(m.GetFrames()) != 1 {
				t.Errorf("match = %v, want item-001 of partners with its labels, PDQ, threshold 31, one frame", m)
			}
			wantDist, wantSource := int32(-1), false
			if who.full {
				wantDist, wantSource = 4, true
			}
			if m.GetDistance() != wantDist || m.GetFrames()[0].GetDistance() != wantDist {
				t.Errorf("distance = %d, frame distance %d, want %d", m.GetDistance(), m.GetFrames()[0].GetDistance(), wantDist)
			}
			if (m.GetSource() != nil) != wantSource {
				t.Errorf("source = %v, want present: %v", m.GetSource(), wantSource)
			}
		})
	}
}

// TestAttackMatcherLimits: over the matcher ceilings (thresholds per
// signal type, results per call) a matcher is refused with PermissionDenied
// naming the field, the value and the ceiling, for MatchSignals and the
// media calls alike; a curator may ask the same.
func TestAttackMatcherLimits(t *testing.T) {
	e := newAuthEnv(t, authConfig{opts: Options{RateLimit: -1}})
	matchAttackItems(t, e.ix, "partners", 1, rand.New(rand.NewPCG(11, 3)))
	curator := e.token(t, "curator", mediamatch.RoleCurator)
	matcher := e.token(t, "gateway", mediamatch.RoleMatcher)
	c := pb.NewMatchServiceClient(e.conn(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	probe := make([]byte, 32)
	th := func(s pb.SignalType, d int32) *pb.MatchOptions {
		return &pb.MatchOptions{Thresholds: []*pb.Threshold{{Signal: s, MaxDistance: d}}}
	}
	for _, tc := range []struct {
		name  string
		opts  *pb.MatchOptions
		parts []string
	}{
		{"pdq", th(pb.SignalType_SIGNAL_TYPE_PDQ, 32), []string{"options.thresholds[0].max_distance", "32", "31"}},
		{"phash", th(pb.SignalType_SIGNAL_TYPE_PHASH, 9), []string{"options.thresholds[0].max_distance", "9", "8"}},
		{"dhash", th(pb.SignalType_SIGNAL_TYPE_DHASH, 64), []string{"options.thresholds[0].max_distance", "64", "8"}},
		{"results", &pb.MatchOptions{MaxResults: 101}, []string{"options.max_results", "101", "100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &pb.MatchSignalsRequest{Media: pb.MediaToProto(matchAttackStill(probe)), Options: tc.opts}
			_, err := c.MatchSignals(as(ctx, matcher), req)
			wantStatus(t, err, codes.PermissionDenied, tc.parts...)
			if _, err := c.MatchSignals(as(ctx, curator), req); err != nil {
				t.Errorf("curator: %v", err)
			}
			_, err = c.MatchMedia(as(ctx, matcher), &pb.MatchMediaRequest{Content: []byte("x"), Options: tc.opts})
			wantStatus(t, err, codes.PermissionDenied, "MatchMediaRequest.options")
			_, err = streamMatch(as(ctx, matcher), c, []byte("x"), 1, tc.opts)
			wantStatus(t, err, codes.PermissionDenied, "MatchMediaStreamRequest.options")
		})
	}
	// At the ceiling a matcher is served.
	req := &pb.MatchSignalsRequest{Media: pb.MediaToProto(matchAttackStill(probe)),
		Options: &pb.MatchOptions{MaxResults: 100, Thresholds: []*pb.Threshold{{Signal: pb.SignalType_SIGNAL_TYPE_PDQ, MaxDistance: 31}}}}
	if _, err := c.MatchSignals(as(ctx, matcher), req); err != nil {
		t.Errorf("matcher at the ceilings: %v", err)
	}
}

// TestAttackExpensiveMatch: BenchmarkAttackMatch in small. A curator's call
// at threshold 256 whose hits exceed the server's budget gets
// ResourceExhausted naming the limit, instead of gathering every pair; a
// call with more probes (keyframes x variants) than the budget is refused
// before any search; and the keyframe pairs returned are capped.
func TestAttackExpensiveMatch(t *testing.T) {
	e := newAuthEnv(t, authConfig{opts: Options{RateLimit: -1, MaxMatchHits: 1000, MaxMatchProbes: 50, MaxFrameMatches: 30}})
	r := rand.New(rand.NewPCG(11, 4))
	matchAttackItems(t, e.ix, "partners", 100, r)
	curator := e.token(t, "curator", mediamatch.RoleCurator)
	c := pb.NewMatchServiceClient(e.conn(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = as(ctx, curator)
	frames := func(n int) *pb.Media {
		hs := make([][]byte, n)
		for i := range hs {
			hs[i] = matchAttackHash(r)
		}
		return pb.MediaToProto(matchAttackStill(hs...))
	}
	wide := &pb.MatchOptions{MaxResults: 1000, Thresholds: []*pb.Threshold{{Signal: pb.SignalType_SIGNAL_TYPE_PDQ, MaxDistance: 256}}}

	// 20 keyframes x 100 items at threshold 256: 2,000 pairs, over 1,000.
	_, err := c.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: frames(20), Options: wide})
	wantStatus(t, err, codes.ResourceExhausted, "1000")

	// 51 probes, over 50.
	_, err = c.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: frames(51), Options: wide})
	wantStatus(t, err, codes.ResourceExhausted, "51", "50")

	// 5 keyframes x 100 items: 500 pairs, within budget, but only 30 are returned.
	resp, err := c.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: frames(5), Options: wide})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetMatches()) != 100 {
		t.Errorf("%d matches, want 100", len(resp.GetMatches()))
	}
	n := 0
	for _, m := range resp.GetMatches() {
		n += len(m.GetFrames())
		if m.GetQueryCoverage() != 1 {
			t.Errorf("%s: query coverage %v, want 1 (counted over every pair, returned or not)", m.GetItemId(), m.GetQueryCoverage())
		}
	}
	if n != 30 {
		t.Errorf("%d frame matches returned, want 30 (MaxFrameMatches)", n)
	}
}

// TestAttackMatcherMediaSeesNoDistance: MatchMedia and MatchMediaStream of
// a real re-encoded video apply the same view as MatchSignals: a matcher
// learns the item, its labels, the frames and coverage, but no distance
// and no source; a curator sees them. The query echo stays.
func TestAttackMatcherMediaSeesNoDistance(t *testing.T) {
	mmtest.FFmpeg(t)
	e := newAuthEnv(t, authConfig{opts: Options{RateLimit: -1}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := fingerprint.New(fingerprint.Options{FFmpeg: ffmpegPath()})
	media, err := h.HashWith(ctx, readMedia(t, "videos/tmk/chair-orig-22-sd-bar.mp4"), fingerprint.HashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ix.CreateBank(ctx, mediamatch.Bank{Name: "tve"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ix.AddItem(ctx, mediamatch.Item{Bank: "tve", ID: "chair", Labels: map[string]string{"action": "block"},
		Media: media, Source: &mediamatch.Source{Format: "te-updates", Partner: "partner-a"}}); err != nil {
		t.Fatal(err)
	}
	curator := e.token(t, "curator", mediamatch.RoleCurator)
	matcher := e.token(t, "gateway", mediamatch.RoleMatcher)
	c := pb.NewMatchServiceClient(e.conn(t, nil))
	query := readMedia(t, "videos/tmk/chair-22-sd-grey-bar.mp4")

	for _, who := range []struct {
		name, secret string
		full         bool
	}{{"curator", curator, true}, {"matcher", matcher, false}} {
		t.Run(who.name, func(t *testing.T) {
			resp, err := streamMatch(as(ctx, who.secret), c, query, 256<<10, nil)
			if err != nil {
				t.Fatalf("MatchMediaStream: %v", err)
			}
			if got := matchIDs(resp.GetMatches()); len(got) != 1 || got[0] != "tve/chair" {
				t.Fatalf("MatchMediaStream = %v, want tve/chair", got)
			}
			if len(resp.GetQuery().GetKeyframes()) == 0 {
				t.Errorf("query echo has no keyframes")
			}
			m := resp.GetMatches()[0]
			if m.GetLabels()["action"] != "block" || len(m.GetFrames()) == 0 || m.GetQueryCoverage() <= 0 {
				t.Errorf("match = %v, want labels, frames and coverage", m)
			}
			if (m.GetSource() != nil) != who.full {
				t.Errorf("source = %v, want present: %v", m.GetSource(), who.full)
			}
			withheld := m.GetDistance() == -1
			for _, f := range m.GetFrames() {
				if (f.GetDistance() == -1) != withheld {
					t.Errorf("frame distance %d, match distance %d: want both withheld or neither", f.GetDistance(), m.GetDistance())
				}
			}
			if withheld == who.full {
				t.Errorf("distance = %d, want withheld (-1): %v", m.GetDistance(), !who.full)
			}
		})
	}
	// MatchMedia (unary): an item holding the keyframes of an image but not
	// its file hashes, so that the image matches by PDQ (distance 0), not
	// exactly.
	rocket := readMedia(t, "images/skimage/rocket.jpg")
	rm, err := h.HashWith(ctx, rocket, fingerprint.HashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rm.FileSignals = nil
	if _, err := e.ix.AddItem(ctx, mediamatch.Item{Bank: "tve", ID: "rocket", Media: rm,
		Source: &mediamatch.Source{Format: "te-updates", Partner: "partner-a"}}); err != nil {
		t.Fatal(err)
	}
	for _, who := range []struct {
		name, secret string
		dist         int32
		source       bool
	}{{"curator", curator, 0, true}, {"matcher", matcher, -1, false}} {
		resp, err := c.MatchMedia(as(ctx, who.secret), &pb.MatchMediaRequest{Content: rocket})
		if err != nil {
			t.Fatalf("MatchMedia as %s: %v", who.name, err)
		}
		if got := matchIDs(resp.GetMatches()); len(got) != 1 || got[0] != "tve/rocket" {
			t.Fatalf("MatchMedia as %s = %v, want tve/rocket", who.name, got)
		}
		m := resp.GetMatches()[0]
		if m.GetSignal() != pb.SignalType_SIGNAL_TYPE_PDQ || m.GetDistance() != who.dist || (m.GetSource() != nil) != who.source {
			t.Errorf("MatchMedia as %s: %s distance %d, source %v; want PDQ distance %d, source present: %v",
				who.name, m.GetSignal(), m.GetDistance(), m.GetSource(), who.dist, who.source)
		}
	}
}

// TestAttackMatcherOrder: a matcher's matches are ordered by bank and id,
// not by distance, so that their order does not rank the items' distances
// to a probe; a curator's are best first.
func TestAttackMatcherOrder(t *testing.T) {
	e := newAuthEnv(t, authConfig{opts: Options{RateLimit: -1}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.ix.CreateBank(ctx, mediamatch.Bank{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	probe := matchAttackHash(rand.New(rand.NewPCG(11, 5)))
	for id, flips := range map[string]int{"far": 20, "near": 2} {
		h := append([]byte(nil), probe...)
		for i := range flips {
			h[i/8] ^= 0x80 >> (i % 8)
		}
		if _, err := e.ix.AddItem(ctx, mediamatch.Item{Bank: "b", ID: id, Media: matchAttackStill(h)}); err != nil {
			t.Fatal(err)
		}
	}
	c := pb.NewMatchServiceClient(e.conn(t, nil))
	req := &pb.MatchSignalsRequest{Media: pb.MediaToProto(matchAttackStill(probe))}
	for _, tc := range []struct {
		role mediamatch.Role
		want string
	}{{mediamatch.RoleCurator, "[b/near b/far]"}, {mediamatch.RoleMatcher, "[b/far b/near]"}} {
		resp, err := c.MatchSignals(as(ctx, e.token(t, string(tc.role), tc.role)), req)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(matchIDs(resp.GetMatches())); got != tc.want {
			t.Errorf("%s: matches %s, want %s", tc.role, got, tc.want)
		}
	}
}
