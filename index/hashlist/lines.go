package hashlist

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// This file reads the line formats with one hash per line: lines, pdq,
// te-csv and te-simple.

// parseLinesRow parses a line of python-threatexchange's local file:
// "<hash>" or "<signal_type> <hash>". A hash alone is of type opt if set,
// else MD5 if it has 32 hex digits, else PDQ.
func parseLinesRow(line string, opt typeSpec) (Record, error) {
	w := strings.Fields(line)
	var h typedHash
	switch len(w) {
	case 1:
		h = typedHash{spec: guessType(opt, w[0]), hash: w[0]}
	case 2:
		h = named(w[0], w[1])
	default:
		return Record{}, fmt.Errorf("%d words, want <hash> or <signal_type> <hash>", len(w))
	}
	e := entry{hashes: []typedHash{h}}
	return e.record()
}

// parsePDQRefRow parses a line of the PDQ reference hasher's output,
// "hash,quality,filename", with mediamatch.ParseHashLine. The filename
// becomes the label "filename".
func parsePDQRefRow(line string) (Record, error) {
	s, name, err := mediamatch.ParseHashLine(line)
	if err != nil {
		return Record{}, err
	}
	e := entry{hashes: []typedHash{{spec: typeSpec{sig: mediamatch.PDQ}, hash: s.Hex()}}, quality: s.Quality, hasQ: true}
	e.labels.set("filename", name)
	return e.record()
}

// The columns of the CSV formats; the first two of each are required.
var (
	teCSVColumns    = []string{"signal_type", "signal_str", "collab", "category", "tags"}
	teSimpleColumns = []string{"indicator", "indicator_id", "first_descriptor_id", "added_on", "labels"}
)

// csvHeader is the header line of a CSV format: which column holds what.
// Columns may come in any order; unknown ones are ignored.
type csvHeader struct {
	format Format
	want   []string
	spec   typeSpec // te-simple: ReaderOptions.SignalType
	cols   map[string]int
	n      int
}

// parse reads the header line.
func (h *csvHeader) parse(line string) error {
	f, err := splitCSV(line)
	if err == nil {
		h.n, h.cols = len(f), map[string]int{}
		for i, name := range f {
			h.cols[strings.ToLower(strings.TrimSpace(name))] = i
		}
		for _, name := range h.want[:2] {
			if _, ok := h.cols[name]; !ok {
				err = fmt.Errorf("no column %s", name)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("header %q: %v, want %s", clip(line), err, strings.Join(h.want, ","))
	}
	return nil
}

// get returns the column called name of the row f, or "" if the list has
// no such column.
func (h *csvHeader) get(f []string, name string) string {
	if i, ok := h.cols[name]; ok {
		return strings.TrimSpace(f[i])
	}
	return ""
}

// row parses a data line.
func (h *csvHeader) row(line string) (Record, error) {
	f, err := splitCSV(line)
	if err != nil {
		return Record{}, err
	}
	if len(f) != h.n {
		return Record{}, fmt.Errorf("%d fields, want %d as in the header", len(f), h.n)
	}
	var e entry
	if h.format == TECSV {
		e = entry{hashes: []typedHash{named(h.get(f, "signal_type"), h.get(f, "signal_str"))},
			partner: h.get(f, "collab"), tags: strings.Fields(h.get(f, "tags"))}
		e.labels.set("collab", e.partner)
		e.labels.set("category", h.get(f, "category"))
	} else {
		ind := h.get(f, "indicator")
		e = entry{id: h.get(f, "indicator_id"), hashes: []typedHash{{spec: guessType(h.spec, ind), hash: ind}},
			tags: strings.Fields(h.get(f, "labels"))}
		if e.id == "" {
			return Record{}, errors.New("missing indicator_id")
		}
		if e.first, err = parseTime("added_on", h.get(f, "added_on")); err != nil {
			return Record{}, err
		}
		e.labels.set("first_descriptor_id", h.get(f, "first_descriptor_id"))
	}
	return e.record()
}

// splitCSV splits one CSV line into fields. A field may be quoted, with ""
// for a quote inside; a quoted field cannot hold a line break (records
// are one line each).
func splitCSV(s string) ([]string, error) {
	var f []string
	for {
		if !strings.HasPrefix(s, `"`) {
			v, rest, more := strings.Cut(s, ",")
			if strings.Contains(v, `"`) {
				return nil, fmt.Errorf("field %d has a quote but does not start with one", len(f)+1)
			}
			if f = append(f, v); !more {
				return f, nil
			}
			s = rest
			continue
		}
		var b strings.Builder
		i := 1
		for {
			j := strings.IndexByte(s[i:], '"')
			if j < 0 {
				return nil, fmt.Errorf("field %d: quote not closed", len(f)+1)
			}
			b.WriteString(s[i : i+j])
			if i += j + 1; i < len(s) && s[i] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			break
		}
		f = append(f, b.String())
		switch s = s[i:]; {
		case s == "":
			return f, nil
		case s[0] != ',':
			return nil, fmt.Errorf("field %d: text after the closing quote", len(f))
		}
		s = s[1:]
	}
}
