package hashlist

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Hashes used by the samples in testdata. p1 and p2 are the PDQ hashes
// ThreatExchange publishes for its bridge-mods test images; the others are
// arbitrary values of the right length.
const (
	p1   = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
	p2   = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
	p3   = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c"
	p4   = "df83b48f2ad34d68169c36bc6d2f6b36ce5ed08701a301e9cbb9fc12f80b8154"
	p5   = "1c1c74a7582782be17269c51cc16297e934d2b537d09504016151a8a82639438"
	p6   = "051bbad882c0def4e063e7fe393e2984c0a09094720807bf742c2662b4aa719c"
	p7   = "14c635a897bbb70c0ba55df2e975106008303cfc308276b93af3b01f732d99c7"
	m1   = "1e9976cc634831902d19833e7843432d"
	m2   = "7e763a98f0a707c928b115c0bf47a277"
	m3   = "988b7dcfeb1f66732db0cca84572005a"
	m4   = "f638b496b8cb7c292456b52f26a87c31"
	m5   = "fc6d27720e39a2fe973b6f91fe6f628f"
	s1   = "4b994ff4459c2d1bc06e540884faf642c164481496d8cb52a86776d2e2fd32fd"
	ph   = "8f3c3c3c1e0e0f07"
	zero = "0000000000000000000000000000000000000000000000000000000000000000"
	ones = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
)

// sig returns a signal of type t with hash h (hex) and quality q.
func sig(t mediamatch.SignalType, h string, q int) mediamatch.Signal {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return mediamatch.Signal{Type: t, Hash: b, Quality: q}
}

// listed returns the fingerprint of a listed hash: exact signals as file
// signals, the others in one keyframe.
func listed(kind mediamatch.Kind, format string, sigs ...mediamatch.Signal) mediamatch.Media {
	m := mediamatch.Media{Kind: kind, Format: format}
	var kf []mediamatch.Signal
	for _, s := range sigs {
		if s.Type == mediamatch.MD5 || s.Type == mediamatch.SHA256 {
			m.FileSignals = append(m.FileSignals, s)
		} else {
			kf = append(kf, s)
		}
	}
	if kf != nil {
		m.Keyframes = []mediamatch.Keyframe{{Signals: kf}}
	}
	return m
}

func image(sigs ...mediamatch.Signal) mediamatch.Media {
	return listed(mediamatch.KindImage, "", sigs...)
}
func video(sigs ...mediamatch.Signal) mediamatch.Media {
	return listed(mediamatch.KindVideo, "", sigs...)
}

// src returns a Source; times are optional (first seen, updated).
func src(format, partner, upstream string, tags []string, times ...time.Time) *mediamatch.Source {
	s := &mediamatch.Source{Format: format, Partner: partner, UpstreamID: upstream, Tags: tags}
	if len(times) > 0 {
		s.FirstSeen = times[0]
	}
	if len(times) > 1 {
		s.Updated = times[1]
	}
	return s
}

// rec returns the record of an item at line.
func rec(line int, id string, labels map[string]string, m mediamatch.Media, s *mediamatch.Source) Record {
	return Record{Line: line, Item: mediamatch.Item{ID: id, Labels: labels, Media: m, Source: s}}
}

// del returns the retraction of id at line.
func del(line int, id string, s *mediamatch.Source) Record {
	return Record{Line: line, Delete: true, Item: mediamatch.Item{ID: id, Source: s}}
}

func unix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func iso(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// readAll reads every record of data in format f. It returns the records
// and the texts of the *LineErrors, and fails the test on a fatal error.
func readAll(t testing.TB, data []byte, f Format, opts ReaderOptions) ([]Record, []string, *Reader) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), f, opts)
	if err != nil {
		t.Fatalf("NewReader(%s): %v", f, err)
	}
	var (
		recs []Record
		errs []string
	)
	for i := 0; ; i++ {
		if i > len(data)+1 {
			t.Fatalf("%s: reader returned more results than the input has bytes", f)
		}
		rec, err := r.Next()
		var le *LineError
		switch {
		case err == io.EOF:
			return recs, errs, r
		case errors.As(err, &le):
			errs = append(errs, le.Error())
		case err != nil:
			t.Fatalf("%s: Next: fatal error %v after %d records", f, err, len(recs))
		default:
			recs = append(recs, rec)
		}
	}
}

// compareRecords reports each record of got that differs from want.
func compareRecords(t *testing.T, got, want []Record) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("missing record %d:\n  want %s", i, describe(want[i]))
		case i >= len(want):
			t.Errorf("extra record %d:\n  got  %s", i, describe(got[i]))
		case !reflect.DeepEqual(got[i], want[i]):
			t.Errorf("record %d:\n  got  %s\n  want %s", i, describe(got[i]), describe(want[i]))
		}
	}
}

// describe renders a record readably (hashes in hex, labels sorted).
func describe(r Record) string {
	var b strings.Builder
	it := r.Item
	fmt.Fprintf(&b, "line %d delete=%v bank=%q id=%q disabled=%v created=%v updated=%v labels=", r.Line, r.Delete,
		it.Bank, it.ID, it.Disabled, it.CreateTime, it.UpdateTime)
	if it.Labels == nil {
		b.WriteString("nil")
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range it.Labels {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "[%s=%s]", k, it.Labels[k])
	}
	m := it.Media
	fmt.Fprintf(&b, " media={%v %q %dx%d %v %dB file=%s", m.Kind, m.Format, m.Width, m.Height, m.Duration, m.Size,
		describeSignals(m.FileSignals))
	for _, k := range m.Keyframes {
		fmt.Fprintf(&b, " kf{%d %v..%v low=%v %s", k.Index, k.Start, k.End, k.LowInformation, describeSignals(k.Signals))
		if len(k.Features) > 0 {
			fmt.Fprintf(&b, " features=%s", EncodeFeatures(k.Features))
		}
		b.WriteString("}")
	}
	b.WriteString("}")
	if s := it.Source; s != nil {
		fmt.Fprintf(&b, " source=%+v", *s)
	} else {
		b.WriteString(" source=nil")
	}
	return b.String()
}

func describeSignals(sigs []mediamatch.Signal) string {
	if sigs == nil {
		return "nil"
	}
	var parts []string
	for _, s := range sigs {
		parts = append(parts, fmt.Sprintf("%s:%s/q%d/t%d", s.Type, s.Hex(), s.Quality, s.Transform))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// variants returns data as LF text, as CRLF text, and as CRLF text with a
// byte order mark; they must read the same.
func variants(data []byte) map[string][]byte {
	lf := bytes.ReplaceAll(bytes.TrimPrefix(data, bom), []byte("\r\n"), []byte("\n"))
	crlf := bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))
	return map[string][]byte{"lf": lf, "crlf": crlf, "bom+crlf": append(slices.Clone(bom), crlf...)}
}

// samples returns the sample files in testdata and their formats.
func samples(t testing.TB) map[string]Format {
	t.Helper()
	files, err := filepath.Glob("testdata/sample.*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	m := map[string]Format{}
	for _, f := range files {
		name := strings.TrimPrefix(filepath.Base(f), "sample.")
		name, _, _ = strings.Cut(name, ".")
		format, err := ParseFormat(strings.TrimSuffix(name, "-pages"))
		if err != nil {
			t.Fatalf("sample %s: %v", f, err)
		}
		m[f] = format
	}
	return m
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
