package hashlist

import (
	"bufio"
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// TestGoldenIndependent checks the golden files without the writers that
// made them: each is read back by the matching reader and must give the
// records written out by hand in roundTripCases; and where FORMATS.md
// (../shared) shows a public sample of the partner format, the golden
// file must have the sample's shape (header, fields, keys) and the
// reader must read the sample.
func TestGoldenIndependent(t *testing.T) {
	doc := formatsDoc(t)
	for _, f := range []Format{JSONL, Lines, PDQRef, TECSV, TESimple, TEUpdates, VPDQ} {
		t.Run(string(f), func(t *testing.T) {
			golden := readFile(t, filepath.Join("testdata", "golden", "items."+string(f)))
			i := slices.IndexFunc(roundTripCases(), func(c roundTripCase) bool { return c.f == f })
			if i < 0 {
				t.Fatalf("no round-trip case for %s", f)
			}
			c := roundTripCases()[i]
			got, errs, _ := readAll(t, golden, f, c.opts)
			if len(errs) > 0 {
				t.Errorf("reading the golden file: %q", errs)
			}
			for i := range got {
				got[i].Line = 0
			}
			compareRecords(t, got, c.want)
			checkSample(t, f, doc, golden)
		})
	}
}

// checkSample compares golden, in format f, with the public sample of f in
// FORMATS.md, if it has one.
func checkSample(t *testing.T, f Format, doc map[string]docSection, golden []byte) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(golden), "\n"), "\n")
	section := func(heading string) docSection {
		t.Helper()
		for h, s := range doc {
			if strings.HasPrefix(h, heading) {
				return s
			}
		}
		t.Fatalf("FORMATS.md has no section %q", heading)
		return docSection{}
	}
	readSample := func(sample string) {
		t.Helper()
		recs, errs, _ := readAll(t, []byte(sample+"\n"), f, ReaderOptions{})
		if len(errs) > 0 || len(recs) == 0 {
			t.Errorf("reading FORMATS.md's sample %q as %s: %d records, errors %q", sample, f, len(recs), errs)
		}
	}
	// sameShape compares the fields of line with those of the sample.
	sameShape := func(line, sample, sep string) {
		t.Helper()
		if a, b := shape(line, sep), shape(sample, sep); !slices.Equal(a, b) {
			t.Errorf("%s line %q has fields %v, FORMATS.md's sample %q has %v", f, line, a, sample, b)
		}
	}
	switch f {
	case Lines:
		sample := section("Plain lines").code[0]
		readSample(sample)
		n := 0
		for _, l := range lines {
			if strings.Fields(l)[0] == strings.Fields(sample)[0] {
				sameShape(l, sample, " ")
				n++
			}
		}
		if n == 0 {
			t.Errorf("no %s line of the sample's type %q", f, strings.Fields(sample)[0])
		}
	case PDQRef:
		sample := section("PDQ reference hasher output").eg[0]
		readSample(sample)
		for _, l := range lines {
			sameShape(l, sample, ",")
		}
	case VPDQ:
		sample := section("vPDQ").code[0]
		readSample(sample)
		for _, l := range lines {
			sameShape(l, sample, ",")
		}
	case TECSV, TESimple:
		heading := map[Format]string{TECSV: "python-threatexchange dataset CSV", TESimple: `ThreatExchange "simple" CSV`}[f]
		s := section(heading)
		i := slices.IndexFunc(s.quoted, func(q string) bool { return strings.Count(q, ",") >= 3 })
		if i < 0 {
			t.Fatalf("FORMATS.md's %s section names no header", heading)
		}
		if lines[0] != s.quoted[i] {
			t.Errorf("%s header %q, FORMATS.md says %q", f, lines[0], s.quoted[i])
		}
	case TEUpdates:
		s := section("ThreatExchange threat_updates")
		var sample map[string]any
		if err := json.Unmarshal([]byte(strings.Join(s.code, "\n")), &sample); err != nil {
			t.Fatalf("FORMATS.md's threat_updates sample: %v", err)
		}
		pdqSample := strings.Fields(section("Plain lines").code[0])[1]
		sample["indicator"] = pdqSample
		b, _ := json.Marshal(sample)
		readSample(string(b))
		types := s.quotedWith("HASH_")
		for _, l := range lines {
			var obj map[string]any
			if err := json.Unmarshal([]byte(l), &obj); err != nil {
				t.Fatalf("%s line %q: %v", f, l, err)
			}
			// Every record names itself and whether it retracts; all but
			// a retraction carry the hash and its type. (Tags and
			// descriptors are optional: an item may have none.)
			required := []string{"id", "should_delete"}
			if obj["should_delete"] != true {
				required = append(required, "indicator", "type")
			}
			for _, k := range required {
				if _, ok := sample[k]; !ok {
					t.Fatalf("FORMATS.md's sample has no key %q", k)
				}
				if _, ok := obj[k]; !ok {
					t.Errorf("%s line %q has no key %q, which the sample has", f, l, k)
				}
			}
			for k := range obj {
				if _, ok := sample[k]; !ok && k != "creation_time" {
					t.Errorf("%s line %q has key %q, which the sample has not", f, l, k)
				}
			}
			if typ, _ := obj["type"].(string); !slices.Contains(types, typ) && obj["should_delete"] != true {
				t.Errorf("%s line %q has type %q, FORMATS.md names %v", f, l, typ, types)
			}
		}
	}
}

// shape classifies each field of line (split at sep): hex digits and
// their count, an integer, a decimal, or text.
func shape(line, sep string) []string {
	var out []string
	for _, f := range strings.Split(line, sep) {
		switch {
		case regexp.MustCompile(`^[0-9a-f]{16,}$`).MatchString(f):
			out = append(out, "hex"+string(rune('0'+len(f)/16)))
		case regexp.MustCompile(`^[0-9]+$`).MatchString(f):
			out = append(out, "int")
		case regexp.MustCompile(`^[0-9]+\.[0-9]{3}$`).MatchString(f):
			out = append(out, "decimal3")
		default:
			out = append(out, "text")
		}
	}
	return out
}

// docSection is what a "## " section of FORMATS.md shows: its indented
// code lines, its `quoted` strings, and the quoted strings after "e.g.".
type docSection struct {
	code, quoted, eg []string
}

func (s docSection) quotedWith(prefix string) []string {
	var out []string
	for _, q := range s.quoted {
		if strings.HasPrefix(q, prefix) {
			out = append(out, q)
		}
	}
	return out
}

// formatsDoc returns the sections of ../shared/FORMATS.md by heading.
func formatsDoc(t *testing.T) map[string]docSection {
	t.Helper()
	data := mmtest.ReadShared(t, "FORMATS.md")
	doc := map[string]docSection{}
	heading := ""
	var text strings.Builder
	flush := func() {
		s := doc[heading]
		body := text.String()
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(body, -1) {
			s.quoted = append(s.quoted, m[1])
		}
		for _, m := range regexp.MustCompile("e\\.g\\. `([^`]+)`").FindAllStringSubmatch(body, -1) {
			s.eg = append(s.eg, m[1])
		}
		doc[heading] = s
		text.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "## "):
			flush()
			heading = strings.TrimPrefix(l, "## ")
		case strings.HasPrefix(l, "    "):
			s := doc[heading]
			s.code = append(s.code, strings.TrimSpace(l))
			doc[heading] = s
		default:
			text.WriteString(l + "\n")
		}
	}
	flush()
	return doc
}
