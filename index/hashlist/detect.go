package hashlist

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"slices"
	"strings"
)

// Detect returns the format of a list from its first bytes (64 KiB is
// plenty; head may end anywhere). It goes by content, after a byte order
// mark and leading space:
//
//   - '<': ncmec, if the first element is queryResult, images, videos,
//     image or video;
//   - a JSON object: tcap if it has the key "results", stopncii if
//     "hashRecords", te-updates if "data", "paging", "indicator",
//     "should_delete" or "descriptors", jsonl if "id" and "media" or
//     "delete";
//   - else the first line that is neither blank nor a comment: te-csv or
//     te-simple if it is their header (with the columns signal_type and
//     signal_str, or indicator and indicator_id); vpdq if it is
//     "frame,quality,hex,seconds" with the first two digits; pdq if it is
//     "hex,quality,..."; lines if it is a hex word alone, or two words of
//     which the first is a signal type or the second is hex.
//
// It returns an *Error of kind ErrUnknownFormat, saying what it saw, when
// nothing fits. It is safe for concurrent use.
func Detect(head []byte) (Format, error) {
	s := bytes.TrimLeft(bytes.TrimPrefix(head, bom), " \t\r\n")
	if len(s) == 0 {
		return "", unknownFormat("the input is empty")
	}
	switch s[0] {
	case '<':
		return detectXML(s)
	case '{':
		return detectJSON(s)
	}
	for len(s) > 0 {
		var line []byte
		line, s, _ = bytes.Cut(s, []byte("\n"))
		if t := strings.TrimSpace(string(line)); t != "" && t[0] != '#' {
			return detectLine(t)
		}
	}
	return "", unknownFormat("only blank lines and comments")
}

func detectXML(s []byte) (Format, error) {
	dec := xml.NewDecoder(bytes.NewReader(s))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", unknownFormat("XML without an element: %v", err)
		}
		if t, ok := tok.(xml.StartElement); ok {
			switch t.Name.Local {
			case "queryResult", "images", "videos", "image", "video":
				return NCMEC, nil
			}
			return "", unknownFormat("XML whose first element is <%s>, want NCMEC's <queryResult>", clip(t.Name.Local))
		}
	}
}

func detectJSON(s []byte) (Format, error) {
	dec := json.NewDecoder(bytes.NewReader(s))
	dec.Token() // '{'
	var id, item bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch key, _ := tok.(string); key {
		case "results":
			return TCAP, nil
		case "hashRecords":
			return StopNCII, nil
		case "data", "paging", "indicator", "should_delete", "descriptors":
			return TEUpdates, nil
		case "id":
			id = true
		case "media", "delete":
			item = true
		}
		if id && item {
			return JSONL, nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
	}
	return "", unknownFormat(`a JSON object without "results" (tcap), "hashRecords" (stopncii), "data" or "indicator" ` +
		`(te-updates), or "id" and "media" (jsonl)`)
}

func detectLine(t string) (Format, error) {
	if h, err := splitCSV(t); err == nil {
		for i := range h {
			h[i] = strings.ToLower(strings.TrimSpace(h[i]))
		}
		switch {
		case slices.Contains(h, "signal_type") && slices.Contains(h, "signal_str"):
			return TECSV, nil
		case slices.Contains(h, "indicator") && slices.Contains(h, "indicator_id"):
			return TESimple, nil
		}
	}
	f := strings.Split(t, ",")
	switch {
	case len(f) == 4 && isDigits(f[0]) && isDigits(f[1]) && allHex(f[2]):
		return VPDQ, nil
	case len(f) >= 3 && allHex(f[0]) && isDigits(f[1]):
		return PDQRef, nil
	}
	w := strings.Fields(t) // not empty: t is not blank
	_, typed := typeNames[strings.ToLower(w[0])]
	if len(w) == 1 && allHex(w[0]) || len(w) == 2 && (typed || allHex(w[1])) {
		return Lines, nil
	}
	return "", unknownFormat("first line %q is none of: a hash, <signal_type> <hash>, hash,quality,filename (pdq), "+
		"frame,quality,hash,seconds (vpdq), a te-csv or te-simple header", clip(t))
}

// allHex reports whether s is one or more hex digits.
func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return s != ""
}
