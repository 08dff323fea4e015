package mediamatch

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// refDir returns the directory of the PDQ reference data shared beside the
// repository, or ends the test if it is absent (mmtest.Shared).
func refDir(tb testing.TB) string {
	tb.Helper()
	return mmtest.Shared(tb, "pdq-reference")
}

// bridgeHex is the reference PDQ hash of ThreatExchange's
// bridge-mods/aaa-orig.jpg, as published there.
const bridgeHex = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"

func TestParsePDQ(t *testing.T) {
	tests := []struct {
		in   string
		want string // Hex() of the result; "" for an error
	}{
		{bridgeHex, bridgeHex},
		{strings.ToUpper(bridgeHex), bridgeHex},
		{" " + bridgeHex + "\n", bridgeHex},
		{bridgeHex[:63], ""},
		{bridgeHex + "0", ""},
		{"g" + bridgeHex[1:], ""},
		{"0x" + bridgeHex[2:], ""},
		{"", ""},
	}
	for _, tt := range tests {
		s, err := ParsePDQ(tt.in)
		switch {
		case tt.want == "" && !errors.Is(err, ErrSyntax):
			t.Errorf("ParsePDQ(%q) = %v, %v; want an ErrSyntax error", tt.in, s.Hex(), err)
		case tt.want != "" && (err != nil || s.Hex() != tt.want || s.Type != PDQ || s.Quality != 0 || s.Validate() != nil):
			t.Errorf("ParsePDQ(%q) = %+v, %v; want PDQ %s with quality 0", tt.in, s, err, tt.want)
		}
	}
}

func TestHashLine(t *testing.T) {
	s, _ := ParsePDQ(bridgeHex)
	s.Quality = 100
	for _, path := range []string{"bridge.jpg", "dir with space/a,b.jpg", ""} {
		var b bytes.Buffer
		if err := WriteHashLine(&b, s, path); err != nil {
			t.Fatalf("WriteHashLine(%q): %v", path, err)
		}
		if want := bridgeHex + ",100," + path + "\n"; b.String() != want {
			t.Errorf("WriteHashLine(%q) wrote %q, want %q", path, b.String(), want)
		}
		got, p, err := ParseHashLine(b.String())
		if err != nil || p != path || got.Hex() != bridgeHex || got.Quality != 100 || got.Type != PDQ {
			t.Errorf("ParseHashLine(%q) = %+v, %q, %v; want the signal and path back", b.String(), got, p, err)
		}
	}
	for _, line := range []string{
		bridgeHex,                    // no quality, no path
		bridgeHex + ",100",           // no path
		bridgeHex + ",101,a.jpg",     // quality out of range
		bridgeHex + ",-1,a.jpg",      // negative
		bridgeHex + ",+5,a.jpg",      // signed
		bridgeHex + ",q,a.jpg",       // not a number
		bridgeHex[1:] + ",100,a.jpg", // 63 digits
		"z" + bridgeHex[1:] + ",1,a", // not hex
		",100,a.jpg",                 // no hash
		bridgeHex + " ,100,a.jpg",    // space in the hash field
	} {
		if _, _, err := ParseHashLine(line); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseHashLine(%q) = %v, want an ErrSyntax error", line, err)
		}
	}
	if err := WriteHashLine(&bytes.Buffer{}, s, "two\nlines"); err == nil {
		t.Error("WriteHashLine with a newline in the path succeeded")
	}
	if err := WriteHashLine(&bytes.Buffer{}, Signal{Type: PHash, Hash: make([]byte, 8)}, "a"); err == nil {
		t.Error("WriteHashLine of a pHash signal succeeded")
	}
}

// TestVPDQRoundTrip parses every reference vPDQ file, checks the media it
// gives, writes it back and compares the bytes.
func TestVPDQRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(refDir(t), "vpdq", "*", "*.txt"))
	if len(files) == 0 {
		mmtest.Missing(t, "vPDQ reference files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseVPDQ(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if m.Kind != KindVideo || len(m.Keyframes) != len(lines) {
				t.Fatalf("Kind %v with %d keyframes, want a video with %d", m.Kind, len(m.Keyframes), len(lines))
			}
			minGap := time.Duration(1 << 62)
			for i, k := range m.Keyframes {
				if i+1 < len(m.Keyframes) {
					if k.End != m.Keyframes[i+1].Start {
						t.Errorf("keyframe %d ends at %v, the next starts at %v", i, k.End, m.Keyframes[i+1].Start)
					}
					minGap = min(minGap, k.End-k.Start)
				}
				if s, ok := k.Signal(PDQ); !ok || s.Validate() != nil || len(k.Signals) != 1 {
					t.Errorf("keyframe %d: signals %v, want one valid PDQ signal", i, k.Signals)
				}
			}
			last := m.Keyframes[len(m.Keyframes)-1]
			if last.End-last.Start != minGap || m.Duration != last.End {
				t.Errorf("last keyframe [%v, %v), Duration %v; want it to last the smallest gap %v and end the video", last.Start, last.End, m.Duration, minGap)
			}
			var out bytes.Buffer
			if err := WriteVPDQ(&out, m); err != nil {
				t.Fatal(err)
			}
			if out.String() != string(data) {
				t.Errorf("written back:\n%s\nwant:\n%s", out.String(), data)
			}
		})
	}
}

func TestParseVPDQ(t *testing.T) {
	const h = bridgeHex
	good := "0,100," + h + ",0.000\n30,90," + h + ",1.000\n"
	m, err := ParseVPDQ(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	k := m.Keyframes[1]
	if k.Index != 30 || k.Start != time.Second || k.End != 2*time.Second || k.Signals[0].Quality != 90 {
		t.Errorf("second keyframe %+v, want index 30 over [1s, 2s) with quality 90", k)
	}
	// A single frame lasts vPDQ's default period; CRLF and blank lines pass.
	m, err = ParseVPDQ(strings.NewReader("\r\n7,55," + strings.ToUpper(h) + ",2.5\r\n\r\n"))
	if err != nil || len(m.Keyframes) != 1 || m.Keyframes[0].End != 3500*time.Millisecond || m.Duration != 3500*time.Millisecond {
		t.Errorf("one-line file: %+v, %v; want one keyframe [2.5s, 3.5s)", m, err)
	}

	for _, tt := range []struct {
		name, in, where string
	}{
		{"empty", "", "no frames"},
		{"three fields", "0,100," + h + "\n", "line 1"},
		{"five fields", "0,100," + h + ",0.000,x\n", "line 1"},
		{"frame not a number", "a,100," + h + ",0.000\n", "line 1"},
		{"negative frame", "-1,100," + h + ",0.000\n", "line 1"},
		{"quality over 100", "0,100," + h + ",0.000\n1,101," + h + ",1.000\n", "line 2"},
		{"short hash", "0,100," + h[2:] + ",0.000\n", "line 1"},
		{"exponent timestamp", "0,100," + h + ",1e3\n", "line 1"},
		{"negative timestamp", "0,100," + h + ",-1.000\n", "line 1"},
		{"frames not increasing", good + "30,100," + h + ",2.000\n", "line 3"},
		{"timestamps not increasing", good + "60,100," + h + ",1.000\n", "line 3"},
		{"line number counts blank lines", "\n\n0,100," + h + ",x\n", "line 3"},
		{"long line", strings.Repeat("1", 70000), "line 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseVPDQ(strings.NewReader(tt.in))
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tt.where) {
				t.Errorf("ParseVPDQ = %v, want an ErrSyntax error naming %q", err, tt.where)
			}
		})
	}
}

func TestWriteVPDQ(t *testing.T) {
	p, _ := ParsePDQ(bridgeHex)
	p.Quality = 80
	turned := p
	turned.Transform = Rotate90
	ph := Signal{Type: PHash, Hash: make([]byte, 8)}
	video := Media{Kind: KindVideo, Keyframes: []Keyframe{
		{Index: 0, Start: 0, End: 3 * time.Second, Signals: []Signal{p, ph, turned}},
		{Index: 1, Start: 3 * time.Second, End: 3500 * time.Millisecond, Signals: []Signal{p}},
		{Index: 2, Start: 3500 * time.Millisecond, End: 4 * time.Second, Signals: []Signal{p}, LowInformation: true},
	}}
	var b bytes.Buffer
	if err := WriteVPDQ(&b, video); err != nil {
		t.Fatal(err)
	}
	want := "0,80," + bridgeHex + ",0.000\n1,80," + bridgeHex + ",3.000\n2,80," + bridgeHex + ",3.500\n"
	if b.String() != want {
		t.Errorf("WriteVPDQ wrote\n%s\nwant\n%s", b.String(), want)
	}
	for name, m := range map[string]Media{
		"image":        {Kind: KindImage, Keyframes: video.Keyframes[:1]},
		"no PDQ":       {Kind: KindVideo, Keyframes: []Keyframe{{Signals: []Signal{ph}}}},
		"only a turn":  {Kind: KindVideo, Keyframes: []Keyframe{{Signals: []Signal{turned}}}},
		"bad PDQ hash": {Kind: KindVideo, Keyframes: []Keyframe{{Signals: []Signal{{Type: PDQ, Hash: []byte{1}}}}}},
	} {
		var b bytes.Buffer
		if err := WriteVPDQ(&b, m); err == nil || b.Len() != 0 {
			t.Errorf("%s: WriteVPDQ = %v after writing %q, want an error and nothing written", name, err, b.String())
		}
	}
}
