package index

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

func testMedia() mediamatch.Media {
	v := video(h64(1), h64(2), h64(3))
	v.Keyframes[1].LowInformation = true
	v.Keyframes[2].Signals = append(v.Keyframes[2].Signals,
		mediamatch.Signal{Type: mediamatch.PDQ, Hash: bytes.Repeat([]byte{0xab}, 32), Quality: 87})
	v.FileSignals = []mediamatch.Signal{md5sig([]byte("0123456789abcdef")),
		{Type: mediamatch.SHA256, Hash: bytes.Repeat([]byte{7}, 32)}}
	v.Width, v.Height, v.Size = 1920, 1080, 1<<40
	return v
}

func TestCodecRoundTrip(t *testing.T) {
	when := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	media := testMedia()
	rec := itemRecord{
		bank: 1 << 40, id: "x:y", labels: map[string]string{"b": "2", "a": ""}, disabled: true,
		kind: mediamatch.KindVideo, informative: informativeFrames(media), frames: frameInfos(media),
		source: &mediamatch.Source{Format: "tcap", Partner: "tat", UpstreamID: "17", Tags: []string{"islamist", "mp4"},
			FirstSeen: when, Updated: when.Add(time.Minute)},
		created: when, updated: when.Add(time.Hour),
	}
	gotRec, err := decodeItem(encodeItem(rec))
	if err != nil || !reflect.DeepEqual(gotRec, rec) {
		t.Errorf("decodeItem(encodeItem(r)) = %+v, %v; want %+v", gotRec, err, rec)
	}
	// The compact form in memory gives back the same labels and source.
	m := rec.meta()
	if got := m.labelMap(); !reflect.DeepEqual(got, rec.labels) {
		t.Errorf("meta labels = %v, want %v", got, rec.labels)
	}
	if got := m.src.source(); !reflect.DeepEqual(got, rec.source) {
		t.Errorf("meta source = %+v, want %+v", got, rec.source)
	}
	if rec.informative != 2 {
		t.Errorf("informativeFrames = %d, want 2", rec.informative)
	}
	gotMedia, err := decodeMedia(encodeMedia(media))
	if err != nil || !reflect.DeepEqual(gotMedia, media) {
		t.Errorf("decodeMedia(encodeMedia(m)) = %+v, %v; want %+v", gotMedia, err, media)
	}
	b := bankRecord{ref: 42, description: "päpst", created: when}
	if got, err := decodeBank(encodeBank(b)); err != nil || !reflect.DeepEqual(got, b) {
		t.Errorf("decodeBank(encodeBank(b)) = %+v, %v; want %+v", got, err, b)
	}

	// Indexed signals: the exact file signals, and the perceptual signals
	// of informative frames only.
	var keys []string
	for _, e := range indexedSignals(media) {
		typ, ref, frame, hash, err := parseSignalKey(signalKey(e.typ, 77, e.frame, e.hash))
		if err != nil || typ != e.typ || ref != 77 || frame != e.frame || !bytes.Equal(hash, e.hash) {
			t.Errorf("parseSignalKey(signalKey(%v)) = %v %d %d %x %v", e, typ, ref, frame, hash, err)
		}
		keys = append(keys, string(typ)+"@"+frameName(frame))
	}
	want := []string{"md5@file", "sha256@file", "phash@0", "phash@2", "pdq@2"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("indexedSignals = %v, want %v", keys, want)
	}
}

func frameName(f uint32) string {
	if f == fileFrame {
		return "file"
	}
	return string(rune('0' + f))
}

func TestCodecCorrupt(t *testing.T) {
	good := [][]byte{encodeMedia(testMedia()), encodeItem(itemRecord{id: "a", frames: []frameInfo{{}}}), encodeBank(bankRecord{description: "d"})}
	decoders := []func([]byte) error{
		func(v []byte) error { _, err := decodeMedia(v); return err },
		func(v []byte) error { _, err := decodeItem(v); return err },
		func(v []byte) error { _, err := decodeBank(v); return err },
	}
	for i, dec := range decoders {
		v := good[i]
		if err := dec(v); err != nil {
			t.Fatalf("decoder %d on a good record: %v", i, err)
		}
		// Every truncation fails, as do trailing bytes and a wrong version.
		for n := range len(v) {
			if err := dec(v[:n]); err == nil {
				t.Errorf("decoder %d on %d of %d bytes: got nil error", i, n, len(v))
			}
		}
		if err := dec(append(v[:len(v):len(v)], 0)); !errors.Is(err, errCorrupt) {
			t.Errorf("decoder %d with a trailing byte: got %v, want errCorrupt", i, err)
		}
		if err := dec(append([]byte{9}, v[1:]...)); err == nil {
			t.Errorf("decoder %d with version 9: got nil error", i)
		}
	}
	for _, k := range [][]byte{nil, {keySignal}, []byte("sphash"), []byte("sphash\x00short"), {keyMeta, 0, 0}} {
		if _, _, _, _, err := parseSignalKey(k); err == nil {
			t.Errorf("parseSignalKey(%q): got nil error", k)
		}
	}
}

// FuzzDecode checks that no input makes a decoder panic or allocate
// without bound; plain go test runs the seeds.
func FuzzDecode(f *testing.F) {
	f.Add(encodeMedia(testMedia()))
	f.Add(encodeItem(itemRecord{id: "a", labels: map[string]string{"k": "v"}, frames: []frameInfo{{}}, source: &mediamatch.Source{Format: "f", Tags: []string{"t"}}}))
	f.Add(encodeBank(bankRecord{description: "d"}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, v []byte) {
		if m, err := decodeMedia(v); err == nil {
			if got, err := decodeMedia(encodeMedia(m)); err != nil || !reflect.DeepEqual(got, m) {
				t.Errorf("media does not round-trip: %+v, %v", got, err)
			}
		}
		decodeItem(v)
		decodeBank(v)
	})
}
