package server

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"testing"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// TestViewsMatch: through the real server and hasher, a photo banked from
// its file is found in copies that the whole-frame PDQ misses, and the
// match says which views made it: padded to 16:9 with black bars (the
// upload's trimmed view against the item's whole frame) and with an
// opaque caption bar over its bottom 19% (the same cut of both); the
// query echo carries the views, and the upright whole frame alone
// (what the PDQ reference matches) finds neither.
func TestViewsMatch(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	data := readMedia(t, chelsea)
	if _, err := e.bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "cat"},
		Source: &pb.AddItemRequest_Content{Content: data}}); err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()

	// Padded to 16:9: black bars left and right.
	pw := b.Dy() * 16 / 9
	padded := image.NewNRGBA(image.Rect(0, 0, pw, b.Dy()))
	draw.Draw(padded, padded.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	draw.Draw(padded, b.Sub(b.Min).Add(image.Pt((pw-b.Dx())/2, 0)), img, b.Min, draw.Src)

	// A caption bar: the bottom 19% white, with black blocks of "text".
	captioned := image.NewNRGBA(b.Sub(b.Min))
	draw.Draw(captioned, captioned.Bounds(), img, b.Min, draw.Src)
	top := b.Dy() * 81 / 100
	draw.Draw(captioned, image.Rect(0, top, b.Dx(), b.Dy()), image.NewUniform(color.White), image.Point{}, draw.Src)
	for x := b.Dx() / 10; x+12 < b.Dx()*9/10; x += 20 {
		draw.Draw(captioned, image.Rect(x, top+b.Dy()/16, x+12, top+b.Dy()/16+10), image.NewUniform(color.Black), image.Point{}, draw.Src)
	}

	for _, tc := range []struct {
		name                     string
		upload                   []byte
		queryTrimmed, itemWhole  bool
		queryRegion, sameRegions bool
	}{
		{"padded to 16:9", pngBytes(t, padded), true, true, false, false},
		{"caption bar", pngBytes(t, captioned), false, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: tc.upload, Options: &pb.MatchOptions{Upright: true}})
			if err != nil {
				t.Fatal(err)
			}
			views := 0
			for _, s := range plain.GetQuery().GetKeyframes()[0].GetSignals() {
				if s.GetType() == pb.SignalType_SIGNAL_TYPE_PDQ && s.GetView() != nil {
					views++
				}
			}
			if views == 0 {
				t.Errorf("query echo has no PDQ view")
			}
			// What the reference matches: the whole frame alone misses it.
			whole := pb.MediaFromProto(plain.GetQuery())
			for i := range whole.Keyframes {
				k := &whole.Keyframes[i]
				var keep = k.Signals[:0]
				for _, s := range k.Signals {
					if s.View.Whole() {
						keep = append(keep, s)
					}
				}
				k.Signals = keep
				k.Features = nil
			}
			ref, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: pb.MediaToProto(whole), Options: &pb.MatchOptions{Upright: true}})
			if err != nil {
				t.Fatal(err)
			}
			if len(ref.GetMatches()) != 0 {
				t.Errorf("whole frame alone matched %v, want nothing (else this copy tests no view)", matchIDs(ref.GetMatches()))
			}

			resp, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: tc.upload})
			if err != nil {
				t.Fatal(err)
			}
			ms := resp.GetMatches()
			if len(ms) != 1 || ms[0].GetItemId() != "cat" {
				t.Fatalf("matches %v, want tve/cat", matchIDs(ms))
			}
			m := ms[0]
			qv, iv := pb.ViewFromProto(m.GetQueryView()), pb.ViewFromProto(m.GetItemView())
			t.Logf("matched at %d bits: upload %v, item %v", m.GetDistance(), qv, iv)
			if tc.queryTrimmed && !qv.Trimmed {
				t.Errorf("query view %v, want the trimmed picture", qv)
			}
			if tc.itemWhole && !iv.Whole() {
				t.Errorf("item view %v, want the whole frame", iv)
			}
			if tc.queryRegion && (qv.Whole() || qv.Region.Whole()) {
				t.Errorf("query view %v, want a region", qv)
			}
			if tc.sameRegions && qv != iv {
				t.Errorf("views %v and %v, want the same cut of both", qv, iv)
			}
			if f := m.GetFrames(); len(f) != 1 || f[0].GetQueryView().String() != m.GetQueryView().String() {
				t.Errorf("frames %v, want one with the match's views", f)
			}
		})
	}
}
