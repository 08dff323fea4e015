package hashlist

import (
	"errors"
	"testing"
)

func TestDetectSamples(t *testing.T) {
	for file, want := range samples(t) {
		for name, data := range variants(readFile(t, file)) {
			if got, err := Detect(data); got != want || err != nil {
				t.Errorf("Detect(%s, %s) = %q, %v; want %s", file, name, got, err, want)
			}
			head := data[:min(len(data), 200)] // a head cut anywhere
			if got, err := Detect(head); got != want || err != nil {
				t.Errorf("Detect(first 200 bytes of %s, %s) = %q, %v; want %s", file, name, got, err, want)
			}
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		in   string
		want Format
	}{
		{"pdq " + p1, Lines},
		{p1, Lines},
		{"\n\n# list\n" + m1 + "\n", Lines},
		{"video_md5 not-hex-yet", Lines},
		{"tmk AAAA", Lines},
		{"PDQ " + p1, Lines},
		{p1 + ",100,a.jpg", PDQRef},
		{p1 + ",93,", PDQRef},
		{"0,100," + p1 + ",0.000", VPDQ},
		{"signal_type,signal_str,collab,category,tags\n", TECSV},
		{"signal_str,signal_type\r\n", TECSV},
		{"Indicator,Indicator_ID,added_on", TESimple},
		{`{"id": "x", "delete": true}`, JSONL},
		{`{"media": {"kind": "image"}, "id": "x"}`, JSONL},
		{`{"id": "1", "indicator": "` + p1 + `"}`, TEUpdates},
		{`{"id": "1", "should_delete": true}`, TEUpdates},
		{`{"paging": {}, "data": []}`, TEUpdates},
		{`{"count": 0, "nextSetTimestamp": 5, "hashRecords": []}`, StopNCII},
		{`{"count": 7, "checkpoint": "1,2", "results": [{"id": 1, "hash_di`, TCAP},
		{"<?xml version=\"1.0\"?>\n<!-- c -->\n<queryResult/>", NCMEC},
		{"<images count=\"0\"></images>", NCMEC},
	}
	for _, tt := range tests {
		if got, err := Detect([]byte(tt.in)); got != tt.want || err != nil {
			t.Errorf("Detect(%q) = %q, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestDetectUnknown(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "hashlist: unknown format: the input is empty"},
		{"\xef\xbb\xbf \r\n\t", "hashlist: unknown format: the input is empty"},
		{"# only\n\n# comments\n", "hashlist: unknown format: only blank lines and comments"},
		{"hello world, how are you", `hashlist: unknown format: first line "hello world, how are you" is none of: a hash, ` +
			`<signal_type> <hash>, hash,quality,filename (pdq), frame,quality,hash,seconds (vpdq), a te-csv or te-simple header`},
		{`{"foo": 1, "bar": [1, 2]}`, `hashlist: unknown format: a JSON object without "results" (tcap), "hashRecords" (stopncii), ` +
			`"data" or "indicator" (te-updates), or "id" and "media" (jsonl)`},
		{"<html><body>", "hashlist: unknown format: XML whose first element is <html>, want NCMEC's <queryResult>"},
		{"<<<", "hashlist: unknown format: XML without an element: XML syntax error on line 1: expected element name after <"},
	}
	for _, tt := range tests {
		got, err := Detect([]byte(tt.in))
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("Detect(%q) = %q, %v; want error %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range Formats() {
		if got, err := ParseFormat(string(f)); got != f || err != nil {
			t.Errorf("ParseFormat(%q) = %q, %v; want %s", f, got, err, f)
		}
	}
	if _, err := ParseFormat("PDQ"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("ParseFormat(PDQ) = %v, want ErrUnknownFormat (names are lowercase)", err)
	}
}
