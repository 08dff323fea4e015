package server

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"path"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
)

// turn returns img turned by moving pixels (no resampling): rotated 90
// degrees counter-clockwise (rot90), then mirrored left to right (mirror).
// It is written here from the pixel geometry, independently of the
// fingerprint package, so that the test checks the transform names.
func turn(img image.Image, rot90, mirror bool) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if rot90 {
		dw, dh = h, w
	}
	out := image.NewNRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		for x := range dw {
			sx, sy := x, y
			if mirror {
				sx = dw - 1 - x
			}
			if rot90 { // the right edge goes to the top
				sx, sy = w-1-sy, sx
			}
			out.Set(x, y, img.At(b.Min.X+sx, b.Min.Y+sy))
		}
	}
	return out
}

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDihedralMatch: real photos turned in the test (rotated 90 degrees,
// mirrored, both) and encoded as PNG match their original item only with
// MatchOptions.dihedral, which reports how the upload is turned relative
// to the item; over MatchMedia (the server hashes the variants) and
// MatchSignals (the client does).
func TestDihedralMatch(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	photos := []string{chelsea, "images/pdq-bridge/aaa-orig.jpg"}
	idOf := func(rel string) string { return path.Base(rel) }
	for _, rel := range photos {
		if _, err := e.bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: idOf(rel)},
			Source: &pb.AddItemRequest_Content{Content: readMedia(t, rel)}}); err != nil {
			t.Fatalf("AddItem(%s): %v", rel, err)
		}
	}
	hasher := fingerprint.New(fingerprint.Options{})
	for _, rel := range photos {
		img, _, err := image.Decode(bytes.NewReader(readMedia(t, rel)))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name        string
			rot90, flip bool
			want        pb.Transform
		}{
			{"rotated 90 ccw", true, false, pb.Transform_TRANSFORM_ROTATE_90},
			{"mirrored left to right", false, true, pb.Transform_TRANSFORM_FLIP_Y},
			{"rotated 90 ccw and mirrored", true, true, pb.Transform_TRANSFORM_FLIP_MINUS1},
		} {
			t.Run(rel+"/"+tc.name, func(t *testing.T) {
				upload := pngBytes(t, turn(img, tc.rot90, tc.flip))
				id := idOf(rel)
				plain, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: upload, Options: &pb.MatchOptions{Upright: true}})
				if err != nil {
					t.Fatalf("MatchMedia(upright): %v", err)
				}
				if slices.Contains(matchIDs(plain.GetMatches()), "tve/"+id) {
					t.Errorf("upright: matches %v, want not %s", matchIDs(plain.GetMatches()), id)
				}
				resp, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: upload})
				if err != nil {
					t.Fatalf("MatchMedia(dihedral): %v", err)
				}
				ms := resp.GetMatches()
				if len(ms) == 0 || ms[0].GetItemId() != id {
					t.Fatalf("with dihedral: matches %v, want %s first", matchIDs(ms), id)
				}
				m := ms[0]
				t.Logf("with dihedral: %s at distance %d, transform %v", m.GetSignal(), m.GetDistance(), m.GetTransform())
				if m.GetSignal() != pb.SignalType_SIGNAL_TYPE_PDQ || m.GetTransform() != tc.want ||
					len(m.GetFrames()) != 1 || m.GetFrames()[0].GetTransform() != tc.want {
					t.Errorf("with dihedral: %v, want a PDQ match with transform %v", m, tc.want)
				}
				// The query echo carries all eight variants of the whole frame.
				var got []pb.Transform
				for _, s := range resp.GetQuery().GetKeyframes()[0].GetSignals() {
					if s.GetType() == pb.SignalType_SIGNAL_TYPE_PDQ && s.GetView() == nil {
						got = append(got, s.GetTransform())
					}
				}
				if len(got) != 8 {
					t.Errorf("query echo PDQ transforms = %v, want all 8", got)
				}

				// MatchSignals: the client hashes the variants itself.
				local, err := hasher.HashWith(ctx, upload, fingerprint.HashOptions{Dihedral: true})
				if err != nil {
					t.Fatal(err)
				}
				sig, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: pb.MediaToProto(local)})
				if err != nil {
					t.Fatalf("MatchSignals(dihedral): %v", err)
				}
				if sm := sig.GetMatches(); len(sm) == 0 || sm[0].GetItemId() != id || sm[0].GetTransform() != tc.want {
					t.Errorf("MatchSignals(dihedral) = %v, want %s with transform %v", sm, id, tc.want)
				}
				// With upright the supplied variants are ignored.
				sig, err = e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: pb.MediaToProto(local), Options: &pb.MatchOptions{Upright: true}})
				if err != nil {
					t.Fatalf("MatchSignals(upright): %v", err)
				}
				if slices.Contains(matchIDs(sig.GetMatches()), "tve/"+id) {
					t.Errorf("MatchSignals(upright) = %v, want not %s", matchIDs(sig.GetMatches()), id)
				}
			})
		}
	}

	// The original matches as it is, transform none, upright or not.
	for _, upright := range []bool{false, true} {
		resp, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: reencode(t, readMedia(t, chelsea), 50),
			Options: &pb.MatchOptions{Upright: upright}})
		if err != nil {
			t.Fatal(err)
		}
		if ms := resp.GetMatches(); len(ms) != 1 || ms[0].GetItemId() != idOf(chelsea) ||
			ms[0].GetTransform() != pb.Transform_TRANSFORM_UNSPECIFIED {
			t.Errorf("re-encoded original, upright %v: %v, want chelsea untransformed", upright, ms)
		}
	}
}

// TestItemsUntransformed: AddItem refuses signals with a transform, naming
// the field.
func TestItemsUntransformed(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	m, err := fingerprint.New(fingerprint.Options{}).HashWith(ctx, readMedia(t, chelsea), fingerprint.HashOptions{Dihedral: true})
	if err != nil {
		t.Fatal(err)
	}
	sigs := m.Keyframes[0].Signals
	first := slices.IndexFunc(sigs, func(s mediamatch.Signal) bool { return s.Transform != mediamatch.TransformNone })
	if first < 0 {
		t.Fatalf("HashWith(Dihedral) signals %+v, want transformed PDQ signals", sigs)
	}
	_, err = e.bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "cat"},
		Source: &pb.AddItemRequest_Media{Media: pb.MediaToProto(m)}})
	field := fmt.Sprintf("AddItemRequest.media.keyframes[0].signals[%d].transform", first)
	st := wantStatus(t, err, codes.InvalidArgument, field, "want none: items are stored untransformed")
	if !slices.Contains(badFields(st), field) {
		t.Errorf("BadRequest fields = %v, want %s", badFields(st), field)
	}
	// A transform out of range is refused in queries too.
	q := pb.MediaToProto(m)
	q.Keyframes[0].Signals[0].Transform = 9
	_, err = e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: q})
	wantStatus(t, err, codes.InvalidArgument, "MatchSignalsRequest.media.keyframes[0].signals[0].transform", "transform 9, want 0..7")
}

// TestLowQualityReported: a PDQ signal below quality 50 is stored and
// reported (GetItem, the query echo) but neither matches nor is matched.
func TestLowQualityReported(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	hash := bytes.Repeat([]byte{0x5a, 0xc3}, 16)
	low := &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_IMAGE, Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{
		{Type: pb.SignalType_SIGNAL_TYPE_PDQ, Hash: hash, Quality: 49}}}}}
	if _, err := e.bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "dim"},
		Source: &pb.AddItemRequest_Media{Media: low}}); err != nil {
		t.Fatal(err)
	}
	got, err := e.bank.GetItem(ctx, &pb.GetItemRequest{Bank: "tve", Id: "dim"})
	if err != nil {
		t.Fatal(err)
	}
	if s := got.GetItem().GetMedia().GetKeyframes()[0].GetSignals()[0]; s.GetQuality() != 49 || !bytes.Equal(s.GetHash(), hash) {
		t.Errorf("GetItem signal = %v, want the PDQ hash with quality 49", s)
	}
	good := &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_IMAGE, Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{
		{Type: pb.SignalType_SIGNAL_TYPE_PDQ, Hash: hash, Quality: 100}}}}}
	resp, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: good})
	if err != nil || len(resp.GetMatches()) != 0 {
		t.Errorf("good query against the low-quality item = %v, %v; want no match", resp.GetMatches(), err)
	}

	// A flat image hashes to PDQ quality 0: reported in the echo, never matched.
	flat := image.NewGray(image.Rect(0, 0, 200, 200))
	for i := range flat.Pix {
		flat.Pix[i] = 128
	}
	flat.Set(3, 3, color.Gray{Y: 0}) // one dot: not quite uniform
	data := pngBytes(t, flat)
	if _, err := e.bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "flat"},
		Source: &pb.AddItemRequest_Content{Content: data}}); err != nil {
		t.Fatal(err)
	}
	mm, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: pngBytes(t, flat),
		Options: &pb.MatchOptions{Signals: []pb.SignalType{pb.SignalType_SIGNAL_TYPE_PDQ}}})
	if err != nil {
		t.Fatal(err)
	}
	var pdqSig *pb.Signal
	for _, s := range mm.GetQuery().GetKeyframes()[0].GetSignals() {
		if s.GetType() == pb.SignalType_SIGNAL_TYPE_PDQ {
			pdqSig = s
		}
	}
	if pdqSig == nil || pdqSig.GetQuality() >= 50 {
		t.Errorf("query echo PDQ signal of a flat image = %v, want one with quality under 50", pdqSig)
	}
	if len(mm.GetMatches()) != 0 {
		t.Errorf("flat image with PDQ only = %v, want no match (its stored twin is low quality too)", matchIDs(mm.GetMatches()))
	}
}
