package hashlist

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

const partner = "test-partner" // ReaderOptions.Partner in the sample tests

// vpdqSampleID is the id of testdata/sample.vpdq.txt: the SHA-256 of its
// frames as WriteVPDQ writes them.
func vpdqSampleID() string {
	canonical := "0,100," + p3 + ",0.000\n30,100," + p4 + ",1.000\n60,87," + p5 + ",2.000\n" +
		"90,0," + zero + ",3.000\n120,95," + p6 + ",4.000\n"
	sum := sha256.Sum256([]byte(canonical))
	return "vpdq-" + hex.EncodeToString(sum[:16])
}

func TestReadSamples(t *testing.T) {
	const (
		gifct = "GIFCT Hash Sharing"
		glor  = "tag:behaviour:glorification"
		isis  = "tag:gifct_entity:isis"
		vtag  = "tag:media_type_video"
	)
	pdq := func(h string, q int) mediamatch.Signal { return sig(mediamatch.PDQ, h, q) }
	md5 := func(h string) mediamatch.Signal { return sig(mediamatch.MD5, h, 0) }
	tests := []struct {
		file       string
		want       []Record
		errs       []string
		checkpoint string
	}{{
		file: "testdata/sample.lines.txt",
		want: []Record{
			rec(2, "pdq-"+p1, nil, image(pdq(p1, 100)), src("lines", partner, "", nil)),
			rec(3, "pdq-"+p2, nil, image(pdq(p2, 100)), src("lines", partner, "", nil)),
			rec(4, "md5-"+m1, nil, video(md5(m1)), src("lines", partner, "", nil)),
			rec(6, "md5-"+m2, nil, image(md5(m2)), src("lines", partner, "", nil)),
			rec(7, "pdq-"+p3, nil, image(pdq(p3, 100)), src("lines", partner, "", nil)),
			rec(13, "sha256-"+s1, nil, image(sig(mediamatch.SHA256, s1, 0)), src("lines", partner, "", nil)),
			rec(14, "phash-"+ph, nil, image(sig(mediamatch.PHash, ph, 0)), src("lines", partner, "", nil)),
			rec(15, "md5-"+m3, nil, image(md5(m3)), src("lines", partner, "", nil)),
		},
		errs: []string{
			"line 8: pdq hash has 63 hex digits, want 64",
			"line 9: pdq hash " + zero + " is constant, want the hash of real content",
			"line 10: unsupported signal type tmk",
			`line 11: pdq hash "` + p5[:63] + `g" has a non-hex character 'g' at 63`,
			"line 12: unsupported signal type url",
			"line 16: 3 words, want <hash> or <signal_type> <hash>",
			`line 18: unknown signal type "banana", want pdq, md5, video_md5, sha256, phash or dhash`,
		},
	}, {
		file: "testdata/sample.pdq.csv",
		want: []Record{
			rec(1, "pdq-"+p2, map[string]string{"filename": "bridge-mods/aaa-orig.jpg"}, image(pdq(p2, 100)), src("pdq", partner, "", nil)),
			rec(2, "pdq-"+p1, map[string]string{"filename": "images/flag, with comma.jpg"}, image(pdq(p1, 93)), src("pdq", partner, "", nil)),
			rec(3, "pdq-"+p3, nil, image(pdq(p3, 64)), src("pdq", partner, "", nil)),
			rec(8, "pdq-"+p7, map[string]string{"filename": "edge.jpg"}, image(pdq(p7, 50)), src("pdq", partner, "", nil)),
		},
		errs: []string{
			"line 4: pdq quality 30, want at least 50",
			"line 5: pdq hash " + ones + " is constant, want the hash of real content",
			`line 6: hash line: quality "101", want an integer 0..100`,
			`line 7: hash line "` + p6 + `": want hash,quality,path`,
		},
	}, {
		file: "testdata/sample.te-csv.csv",
		want: []Record{
			rec(2, "pdq-"+p1, map[string]string{"category": "terrorism", "collab": gifct, isis: "", glor: ""},
				image(pdq(p1, 100)), src("te-csv", gifct, "", []string{"gifct_entity:isis", "behaviour:glorification"})),
			rec(3, "md5-"+m1, map[string]string{"category": "terrorism", "collab": gifct, vtag: "", "tag:behaviour:recruitment": ""},
				video(md5(m1)), src("te-csv", gifct, "", []string{"media_type_video", "behaviour:recruitment"})),
			rec(4, "pdq-"+p3, map[string]string{"collab": "Tech Coalition"}, image(pdq(p3, 100)), src("te-csv", "Tech Coalition", "", nil)),
			rec(7, "pdq-"+p4, map[string]string{"category": "terrorism", "collab": `GIFCT "East"`}, image(pdq(p4, 100)),
				src("te-csv", `GIFCT "East"`, "", nil)),
			rec(9, "md5-"+m2, map[string]string{"category": "violent_extremism", "tag:manual": "", "tag:instruction": ""},
				image(md5(m2)), src("te-csv", partner, "", []string{"manual", "instruction"})),
		},
		errs: []string{
			"line 5: pdq hash has 6 hex digits, want 64",
			"line 6: unsupported signal type raw_text",
			"line 8: 4 fields, want 5 as in the header",
		},
	}, {
		file: "testdata/sample.te-simple.csv",
		want: []Record{
			rec(2, "2880742865368386", map[string]string{"first_descriptor_id": "2880742868701719", isis: "", glor: ""},
				image(pdq(p1, 100)), src("te-simple", partner, "2880742865368386",
					[]string{"gifct_entity:isis", "behaviour:glorification"}, iso("2020-07-31T18:47:45Z"))),
			rec(3, "2880742865368387", map[string]string{"first_descriptor_id": "2880742868701720"}, image(pdq(p2, 100)),
				src("te-simple", partner, "2880742865368387", nil, iso("2021-01-02T03:04:05Z"))),
			rec(5, "2880742865368389", map[string]string{vtag: ""}, video(md5(m1)),
				src("te-simple", partner, "2880742865368389", []string{"media_type_video"}, iso("2022-05-06T00:00:00Z"))),
		},
		errs: []string{
			`line 4: added_on "last tuesday", want an ISO-8601 time such as 2024-08-01T00:00:00Z`,
			"line 6: missing indicator_id",
			`line 7: item.id: "2880742865368390/1" contains '/' at byte 16, want 1..128 bytes of printable ASCII without space or '/'`,
		},
	}, {
		file: "testdata/sample.te-updates.jsonl",
		want: []Record{
			rec(1, "3012345678901234", map[string]string{"confidence": "50", "review_status": "REVIEWED_MANUALLY",
				"status": "MALICIOUS", "share_level": "AMBER", isis: "", glor: ""}, image(pdq(p1, 100)),
				src("te-updates", "GIFCT Member A", "3012345678901234", []string{"gifct_entity:isis", "behaviour:glorification"},
					unix(1700000000), unix(1730000000))),
			rec(2, "3012345678901235", map[string]string{"status": "MALICIOUS", "share_level": "RED", vtag: ""}, video(md5(m1)),
				src("te-updates", "GIFCT Member B", "3012345678901235", []string{"media_type_video"}, time.Time{}, unix(1730000100))),
			rec(3, "3012345678901236", nil, video(md5(m2)),
				src("te-updates", partner, "3012345678901236", nil, time.Time{}, iso("2024-10-27T03:35:00Z"))),
			del(4, "3012345678901237", src("te-updates", partner, "3012345678901237", nil, time.Time{}, unix(1730000300))),
			rec(8, "3012345678901240", nil, image(pdq(p5, 100)), src("te-updates", partner, "3012345678901240", nil)),
		},
		errs: []string{
			"line 5: unsupported signal type HASH_TMK",
			"line 7: pdq hash has 63 hex digits, want 64",
			"line 9: should_delete is a JSON string, want bool",
			"line 10: missing id",
		},
	}, {
		file: "testdata/sample.te-updates-pages.json",
		want: []Record{
			rec(3, "4000000000000001", map[string]string{"confidence": "100", "review_status": "REVIEWED_AUTOMATICALLY",
				"status": "MALICIOUS", "share_level": "AMBER", "tag:gifct_entity:al-shabaab": ""}, image(pdq(p2, 100)),
				src("te-updates", "GIFCT Member C", "4000000000000001", []string{"gifct_entity:al-shabaab"}, time.Time{}, unix(1730000400))),
			del(17, "4000000000000001", src("te-updates", partner, "4000000000000001", nil)),
			rec(18, "4000000000000003", map[string]string{vtag: ""}, video(md5(m2)),
				src("te-updates", partner, "4000000000000003", []string{"media_type_video"})),
		},
		errs: []string{`line 12: pdq hash "not-a-hash" has a non-hex character 'n' at 0`},
	}, {
		file: "testdata/sample.tcap.json",
		want: []Record{
			rec(5, "10590", map[string]string{"ideology": "islamist", "file_type": "jpg"},
				listed(mediamatch.KindImage, "jpg", pdq(p1, 100)),
				src("tcap", partner, "10590", nil, iso("2024-08-01T00:00:00Z"), iso("2024-08-02T00:00:00Z"))),
			rec(6, "10591", map[string]string{"ideology": "far-right", "file_type": "MP4"},
				listed(mediamatch.KindVideo, "mp4", md5(m3)),
				src("tcap", partner, "10591", nil, iso("2024-08-03T12:30:00Z"), iso("2024-08-03T12:30:00Z"))),
			rec(16, "10592", map[string]string{"ideology": "islamist", "file_type": "webm"},
				listed(mediamatch.KindVideo, "webm", sig(mediamatch.SHA256, s1, 0)),
				src("tcap", partner, "10592", nil, iso("2024-08-04T00:00:00Z"), iso("2024-08-04T00:00:00Z"))),
			del(18, "10594", src("tcap", partner, "10594", nil, iso("2024-08-01T00:00:00Z"), iso("2024-08-28T14:48:07Z"))),
		},
		errs: []string{
			"line 17: unsupported signal type SHA512",
			`line 19: created_on "last week", want an ISO-8601 time such as 2024-08-01T00:00:00Z`,
			"line 20: missing id",
		},
		checkpoint: "1724856487.709035,10594",
	}, {
		file: "testdata/sample.ncmec.xml",
		want: []Record{
			rec(4, "image1", map[string]string{"classification": "A1", "member_id": "42"}, image(md5(m4), pdq(p1, 100)),
				src("ncmec", "Example Member", "image1", nil, iso("2024-07-01T10:00:00Z"))),
			del(16, "image0", src("ncmec", "Example Member", "image0", nil, iso("2024-07-02T10:00:00Z"))),
			rec(17, "image3", map[string]string{"classification": "B2", "member_id": "43"}, image(pdq(p3, 100)),
				src("ncmec", "Second Member", "image3", nil, iso("2024-07-02T09:00:00Z"))),
			rec(21, "video1", map[string]string{"classification": "A1", "member_id": "7"}, video(md5(m1)),
				src("ncmec", "Video Member", "video1", nil, iso("2024-07-02T12:00:00Z"))),
			del(28, "video0", src("ncmec", "Video Member", "video0", nil, iso("2024-07-02T12:30:00Z"))),
		},
		errs: []string{
			"line 15: no hash of a supported type (have sha1, pdna)",
			`line 18: timestamp "02/07/2024", want an ISO-8601 time such as 2024-08-01T00:00:00Z`,
		},
	}, {
		file: "testdata/sample.stopncii.json",
		want: []Record{
			rec(5, "pdq-"+p6, map[string]string{"status": "Active"}, image(pdq(p6, 100)),
				src("stopncii", partner, "", nil, time.Time{}, unix(1730000000))),
			rec(6, "md5-"+m5, map[string]string{"status": "Active"}, video(md5(m5)),
				src("stopncii", partner, "", nil, time.Time{}, unix(1730000100))),
			del(7, "pdq-"+p7, src("stopncii", partner, "", nil, time.Time{}, unix(1730000200))),
		},
		errs: []string{
			"line 8: unsupported signal type VideoTMK",
			"line 9: pdq hash " + ones + " is constant, want the hash of real content",
		},
		checkpoint: "1730000500",
	}, {
		file: "testdata/sample.vpdq.txt",
		want: []Record{{Line: 2, Item: mediamatch.Item{ID: vpdqSampleID(), Source: src("vpdq", partner, "", nil),
			Media: mediamatch.Media{Kind: mediamatch.KindVideo, Duration: 5 * time.Second, Keyframes: []mediamatch.Keyframe{
				{Index: 0, Start: 0, End: time.Second, Signals: []mediamatch.Signal{pdq(p3, 100)}},
				{Index: 30, Start: time.Second, End: 2 * time.Second, Signals: []mediamatch.Signal{pdq(p4, 100)}},
				{Index: 60, Start: 2 * time.Second, End: 3 * time.Second, Signals: []mediamatch.Signal{pdq(p5, 87)}},
				{Index: 90, Start: 3 * time.Second, End: 4 * time.Second, Signals: []mediamatch.Signal{pdq(zero, 0)}, LowInformation: true},
				{Index: 120, Start: 4 * time.Second, End: 5 * time.Second, Signals: []mediamatch.Signal{pdq(p6, 95)}},
			}}}}},
	}, {
		file: "testdata/sample.jsonl",
		want: []Record{
			{Line: 1, Item: mediamatch.Item{Bank: "gifct", ID: "te-3012345678901234",
				Labels: map[string]string{"category": "terrorism", glor: ""},
				Media: mediamatch.Media{Kind: mediamatch.KindImage, Format: "jpeg", Size: 48213, Width: 640, Height: 480,
					FileSignals: []mediamatch.Signal{md5(m4)},
					Keyframes:   []mediamatch.Keyframe{{Signals: []mediamatch.Signal{pdq(p1, 93), sig(mediamatch.PHash, ph, 0)}}}},
				CreateTime: iso("2024-08-01T10:00:00.123456789Z"), UpdateTime: iso("2024-08-02T10:00:00Z"),
				Source: src("te-updates", "GIFCT Member A", "3012345678901234", []string{"behaviour:glorification"},
					iso("2023-11-14T22:13:20Z"), iso("2024-10-27T03:33:20Z"))}},
			{Line: 2, Item: mediamatch.Item{Bank: "gifct", ID: "clip-17", Disabled: true,
				Media: mediamatch.Media{Kind: mediamatch.KindVideo, Format: "mp4", Duration: 3 * time.Second,
					Keyframes: []mediamatch.Keyframe{
						{Index: 0, End: 1500 * time.Millisecond, Signals: []mediamatch.Signal{pdq(p3, 100)}},
						{Index: 45, Start: 1500 * time.Millisecond, End: 3 * time.Second, LowInformation: true,
							Signals: []mediamatch.Signal{pdq(zero, 0)}}}}}},
			{Line: 3, Delete: true, Item: mediamatch.Item{ID: "old-item"}},
		},
		errs: []string{
			"line 4: not JSON: unexpected end of JSON input",
			`line 5: unknown signal type "tmk", want one of [pdq phash dhash md5 sha256]`,
			`line 6: media kind "audio", want image, video or unknown`,
			"line 7: item.media.keyframes[0].signals[1].type: pdq repeated, want each type at most once",
		},
	}}
	all := samples(t)
	for _, tt := range tests {
		f, ok := all[tt.file]
		if !ok {
			t.Fatalf("no sample %s", tt.file)
		}
		delete(all, tt.file)
		for name, data := range variants(readFile(t, tt.file)) {
			t.Run(tt.file+"/"+name, func(t *testing.T) {
				got, errs, r := readAll(t, data, f, ReaderOptions{Partner: partner})
				compareRecords(t, got, tt.want)
				if !reflect.DeepEqual(errs, tt.errs) {
					t.Errorf("line errors:\n  got  %q\n  want %q", errs, tt.errs)
				}
				if r.Checkpoint() != tt.checkpoint {
					t.Errorf("Checkpoint() = %q, want %q", r.Checkpoint(), tt.checkpoint)
				}
				if r.Format() != f {
					t.Errorf("Format() = %s, want %s", r.Format(), f)
				}
			})
		}
	}
	for file := range all {
		t.Errorf("sample %s is not tested", file)
	}
}

// TestReaderOptions tests the options that change what is read.
func TestReaderOptions(t *testing.T) {
	tests := []struct {
		name   string
		f      Format
		opts   ReaderOptions
		in     string
		wantID string
		want   mediamatch.Media
		err    string // the LineError, if any
	}{
		{"bare md5 by option", Lines, ReaderOptions{SignalType: "md5"}, m1, "md5-" + m1, image(sig(mediamatch.MD5, m1, 0)), ""},
		{"bare video md5 by option", Lines, ReaderOptions{SignalType: "HASH_VIDEO_MD5"}, m1, "md5-" + m1, video(sig(mediamatch.MD5, m1, 0)), ""},
		{"bare pdq by length", Lines, ReaderOptions{}, p1, "pdq-" + p1, image(sig(mediamatch.PDQ, p1, DefaultQuality)), ""},
		{"option type wins over length", Lines, ReaderOptions{SignalType: "md5"}, p1, "", mediamatch.Media{},
			"line 1: md5 hash has 64 hex digits, want 32"},
		{"te-simple sha256 by option", TESimple, ReaderOptions{SignalType: "HASH_SHA256"},
			"indicator,indicator_id\n" + s1 + ",77", "77", image(sig(mediamatch.SHA256, s1, 0)), ""},
		{"vpdq id by option", VPDQ, ReaderOptions{ID: "clip-1"}, "0,100," + p1 + ",0", "clip-1",
			mediamatch.Media{Kind: mediamatch.KindVideo, Duration: time.Second, Keyframes: []mediamatch.Keyframe{
				{End: time.Second, Signals: []mediamatch.Signal{sig(mediamatch.PDQ, p1, 100)}}}}, ""},
		{"ignored id", Lines, ReaderOptions{ID: "clip-1"}, p1, "pdq-" + p1, image(sig(mediamatch.PDQ, p1, DefaultQuality)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs, _ := readAll(t, []byte(tt.in), tt.f, tt.opts)
			if tt.err != "" {
				if len(got) != 0 || len(errs) != 1 || errs[0] != tt.err {
					t.Fatalf("read %d records, errors %q; want only the error %q", len(got), errs, tt.err)
				}
				return
			}
			if len(got) != 1 || len(errs) != 0 {
				t.Fatalf("read %d records, errors %q; want one record", len(got), errs)
			}
			if got[0].Item.ID != tt.wantID || !reflect.DeepEqual(got[0].Item.Media, tt.want) {
				t.Errorf("got %s\nwant id %q media %s", describe(got[0]), tt.wantID, describe(Record{Item: mediamatch.Item{Media: tt.want}}))
			}
		})
	}
}

func TestNewReaderErrors(t *testing.T) {
	tests := []struct {
		f    Format
		opts ReaderOptions
		want string
	}{
		{"xml", ReaderOptions{}, `hashlist: unknown format "xml", want one of lines, pdq, te-csv, te-simple, te-updates, tcap, ncmec, stopncii, vpdq, jsonl`},
		{Lines, ReaderOptions{MaxLineBytes: -1}, "hashlist: MaxLineBytes -1, want 0 or more"},
		{Lines, ReaderOptions{SignalType: "tmk"}, "hashlist: ReaderOptions.SignalType: unsupported signal type tmk"},
		{Lines, ReaderOptions{SignalType: "nope"}, `hashlist: ReaderOptions.SignalType: unknown signal type "nope", want pdq, md5, video_md5, sha256, phash or dhash`},
		{VPDQ, ReaderOptions{ID: "a/b"}, `hashlist: ReaderOptions.ID: "a/b" contains '/' at byte 1, want 1..128 bytes of printable ASCII without space or '/'`},
	}
	for _, tt := range tests {
		r, err := NewReader(strings.NewReader(""), tt.f, tt.opts)
		if err == nil || err.Error() != tt.want {
			t.Errorf("NewReader(%q, %+v) = %v, %v; want error %q", tt.f, tt.opts, r, err, tt.want)
		}
	}
	if _, err := NewReader(strings.NewReader(""), "xml", ReaderOptions{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("NewReader of an unknown format: %v, want ErrUnknownFormat", err)
	}
}

// TestLongLines tests that a line over MaxLineBytes is a LineError and
// that reading goes on at the next line.
func TestLongLines(t *testing.T) {
	good := "pdq " + p1
	tests := []struct {
		name string
		max  int
		in   string
		errs []string
		recs []int // lines of the records read
	}{
		{"under the buffer", 100, strings.Repeat("a", 2000) + "\n" + good + "\n", []string{"line 1: 2000 bytes, want at most 100"}, []int{2}},
		{"crlf", 100, strings.Repeat("a", 2000) + "\r\n" + good + "\r\n", []string{"line 1: 2000 bytes, want at most 100"}, []int{2}},
		{"just over", 68, good + "\n" + good + "x\n" + good, []string{"line 2: 69 bytes, want at most 68"}, []int{1, 3}},
		{"just fits", 68, good + "\r\n", nil, []int{1}},
		{"over the buffer", 100, good + "\n" + strings.Repeat("b", 100000) + "\r\n" + good + "\n",
			[]string{"line 2: 100000 bytes, want at most 100"}, []int{1, 3}},
		{"over the buffer at the end", 100, good + "\n" + strings.Repeat("b", 100000), []string{"line 2: 100000 bytes, want at most 100"}, []int{1}},
		{"default limit", 0, strings.Repeat("c", 2000000) + "\n" + good, []string{"line 1: 2000000 bytes, want at most 1048576"}, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs, _ := readAll(t, []byte(tt.in), Lines, ReaderOptions{MaxLineBytes: tt.max})
			var lines []int
			for _, r := range got {
				lines = append(lines, r.Line)
			}
			if !reflect.DeepEqual(errs, tt.errs) || !reflect.DeepEqual(lines, tt.recs) {
				t.Errorf("errors %q, records at lines %v; want %q, %v", errs, lines, tt.errs, tt.recs)
			}
		})
	}
}

// TestFatal tests lists broken beyond recovery: the records before the
// break are read, then a fatal error that every later call repeats.
func TestFatal(t *testing.T) {
	tcapGood := `{"id": 1, "hash_digest": "` + p1 + `", "algorithm": "PDQ"}`
	tests := []struct {
		name string
		f    Format
		max  int
		in   string
		recs int
		want string
	}{
		{"te-csv without header", TECSV, 0, "pdq," + p1 + ",c,cat,\n", 0,
			`hashlist: te-csv: line 1: header "pdq,` + p1 + `,c,cat,": no column signal_str, want signal_type,signal_str,collab,category,tags`},
		{"te-simple header missing a column", TESimple, 0, "\n# x\nindicator,added_on\n", 0,
			`hashlist: te-simple: line 3: header "indicator,added_on": no column indicator_id, want indicator,indicator_id,first_descriptor_id,added_on,labels`},
		{"tcap cut short", TCAP, 0, "{\"results\": [\n" + tcapGood + ",\n{\"id\": 2,", 1, "hashlist: tcap: line 3: unexpected EOF"},
		{"tcap results not an array", TCAP, 0, `{"count": 1, "results": 5}`, 0, `hashlist: tcap: line 1: "results" holds 5, want an array`},
		{"tcap bad syntax", TCAP, 0, "{\"results\": [\n" + tcapGood + "\n" + tcapGood + "]}", 1,
			"hashlist: tcap: line 3: expected comma after array element"},
		{"te-updates array at top", TEUpdates, 0, `[{"id": "1"}]`, 0, "hashlist: te-updates: line 1: [ at the top level, want an object"},
		{"te-updates broken line", TEUpdates, 0, `{"id":"1","indicator":"` + p1 + `","type":"HASH_PDQ"}` + "\n{\"id\":\n", 1,
			"hashlist: te-updates: line 2: unexpected EOF"},
		{"stopncii record too long", StopNCII, 1000, `{"hashRecords": [{"hashValue": "` + strings.Repeat("a", 8000) + `"}]}`, 0,
			"hashlist: stopncii: line 1: a record of more than 1000 bytes"},
		{"space over the limit between records", TCAP, 1000, "{\"results\": [" + tcapGood + strings.Repeat(" ", 20000) + "]}", 1,
			"hashlist: tcap: line 1: a record of more than 1000 bytes"},
		{"te-updates object of many keys", TEUpdates, 1000, "\n{" + strings.Repeat(`"k":"`+strings.Repeat("v", 90)+`",`, 20) + `"id":"1"}`, 0,
			"hashlist: te-updates: line 2: a record of more than 1000 bytes"},
		{"ncmec not closed", NCMEC, 0, "<queryResult><images>\n<image><id>x</id>\n</images>", 0,
			"hashlist: ncmec: XML syntax error on line 3: element <image> closed by </images>"},
		{"ncmec record too long", NCMEC, 1000, "<queryResult><images>\n<image><id>" + strings.Repeat("x", 9000) + "</id></image></images></queryResult>", 0,
			"hashlist: ncmec: line 2: a record of more than 1000 bytes"},
		{"ncmec too deep", NCMEC, 0, strings.Repeat("<a>", 65), 0, "hashlist: ncmec: line 1: elements nested more than 64 deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.in), tt.f, ReaderOptions{MaxLineBytes: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			recs := 0
			for {
				_, err = r.Next()
				var le *LineError
				if err == nil || errors.As(err, &le) {
					recs++
					continue
				}
				break
			}
			if err == io.EOF || err.Error() != tt.want || recs != tt.recs {
				t.Fatalf("after %d records: %v; want %d records, then %q", recs, err, tt.recs, tt.want)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("Next after a fatal error = %v, want the same error", again)
			}
		})
	}
}

func TestVPDQErrors(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"out of order", "0,100," + p3 + ",1.000\n30,100," + p4 + ",0.500\n", 0,
			"line 2: frame 30 at 500ms after frame 0 at 1s, want both increasing"},
		{"frame index repeated", "# clip\n5,100," + p3 + ",1\n5,100," + p4 + ",2\n", 0,
			"line 3: frame 5 at 2s after frame 5 at 1s, want both increasing"},
		{"short hash", "0,100," + p3 + ",0\n1,100," + p3[:63] + ",1\n", 0,
			`line 2: PDQ hash "` + p3[:63] + `" is 63 characters, want 64 hex digits`},
		{"three fields", "0,100," + p3, 0,
			`line 1: "0,100,` + p3 + `" has 3 fields, want frame_index,quality,pdqhex,timestamp_seconds`},
		{"nothing usable", "0,20," + p3 + ",0\n1,100," + zero + ",1\n", 0,
			"line 1: no frame has a pdq hash of quality at least 50 that is not constant"},
		{"long line", "0,100," + p3 + ",0\n1,100," + p4 + ",1.000000000000000000000\n", 90, "line 2: 94 bytes, want at most 90"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, data := range variants([]byte(tt.in)) {
				got, errs, _ := readAll(t, data, VPDQ, ReaderOptions{MaxLineBytes: tt.max})
				if len(got) != 0 || len(errs) != 1 || errs[0] != tt.want {
					t.Errorf("%s: %d records, errors %q; want only %q", name, len(got), errs, tt.want)
				}
			}
		})
	}
	if got, errs, _ := readAll(t, []byte("# nothing\n\n"), VPDQ, ReaderOptions{}); len(got)+len(errs) != 0 {
		t.Errorf("a vpdq file without frames read as %d records, errors %q; want nothing", len(got), errs)
	}
	// The id is the frames', however they are written.
	a, _, _ := readAll(t, []byte("0,100,"+p3+",0\n1,100,"+p4+",1.5\n"), VPDQ, ReaderOptions{})
	b, _, _ := readAll(t, []byte("# same\n0,100,"+strings.ToUpper(p3)+",0.000\r\n1,100,"+p4+",1.500"), VPDQ, ReaderOptions{})
	if len(a) != 1 || len(b) != 1 || a[0].Item.ID != b[0].Item.ID || !strings.HasPrefix(a[0].Item.ID, "vpdq-") || len(a[0].Item.ID) != 37 {
		t.Errorf("ids of the same frames written two ways: %v, %v; want one vpdq-<32 hex>", a, b)
	}
}

// TestTags tests that tags that cannot be labels stay in Source.Tags only,
// and that a record with more tags than a source keeps is refused, as the
// index would refuse it.
func TestTags(t *testing.T) {
	var tags []string
	for i := range mediamatch.MaxSourceTags - 1 { // with collab and category, more than MaxLabels
		tags = append(tags, "t"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	long := strings.Repeat("l", 61) // "tag:" + 61 bytes is over 64
	line := "pdq," + p1 + ",collab,cat," + long + " " + strings.Join(tags, " ")
	got, errs, _ := readAll(t, []byte("signal_type,signal_str,collab,category,tags\n"+line), TECSV, ReaderOptions{})
	if len(got) != 1 || len(errs) != 0 {
		t.Fatalf("%d records, errors %q; want one record", len(got), errs)
	}
	it := got[0].Item
	if len(it.Labels) != mediamatch.MaxLabels {
		t.Errorf("%d labels, want %d", len(it.Labels), mediamatch.MaxLabels)
	}
	if _, ok := it.Labels["tag:"+long]; ok {
		t.Errorf("a tag too long for a label key is a label")
	}
	if want := append([]string{long}, tags...); !reflect.DeepEqual(it.Source.Tags, want) {
		t.Errorf("Source.Tags = %q, want %q", it.Source.Tags, want)
	}
	if it.Labels["category"] != "cat" || it.Labels["collab"] != "collab" {
		t.Errorf("labels %v lost the category or collab to tags", it.Labels)
	}
	_, errs, _ = readAll(t, []byte("signal_type,signal_str,collab,category,tags\n"+line+" one-more"), TECSV, ReaderOptions{})
	if len(errs) != 1 || !strings.Contains(errs[0], "item.source.tags") {
		t.Errorf("a record of %d tags read with errors %q, want one naming item.source.tags", mediamatch.MaxSourceTags+1, errs)
	}
}

// TestTimes tests the time forms partners write.
func TestTimes(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{"2024-08-01T00:00:00Z", iso("2024-08-01T00:00:00Z"), ""},
		{"2020-07-31T18:47:45+0000", iso("2020-07-31T18:47:45Z"), ""},
		{"2020-07-31T20:47:45+02:00", iso("2020-07-31T18:47:45Z"), ""},
		{"2024-08-01T00:00:00.5Z", iso("2024-08-01T00:00:00.5Z"), ""},
		{"2024-08-01", iso("2024-08-01T00:00:00Z"), ""},
		{"1730000000", unix(1730000000), ""},
		{"1724856487.5", iso("2024-08-28T14:48:07.5Z"), ""},
		{"", time.Time{}, ""},
		{"99999999999999", time.Time{}, `t "99999999999999", want Unix seconds up to 253402300799`},
		{"1.2.3", time.Time{}, `t "1.2.3", want Unix seconds up to 253402300799`},
		{"31/12/2024", time.Time{}, `t "31/12/2024", want an ISO-8601 time such as 2024-08-01T00:00:00Z`},
	}
	for _, tt := range tests {
		got, err := parseTime("t", tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("parseTime(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestSplitCSV(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"a,b,c", []string{"a", "b", "c"}, ""},
		{"", []string{""}, ""},
		{"a,,", []string{"a", "", ""}, ""},
		{`"a,b",c`, []string{"a,b", "c"}, ""},
		{`"say ""hi""",x`, []string{`say "hi"`, "x"}, ""},
		{`a,"b"`, []string{"a", "b"}, ""},
		{`"a",`, []string{"a", ""}, ""},
		{`""`, []string{""}, ""},
		{`a"b,c`, nil, "field 1 has a quote but does not start with one"},
		{`"ab,c`, nil, "field 1: quote not closed"},
		{`"a"b,c`, nil, "field 1: text after the closing quote"},
	}
	for _, tt := range tests {
		got, err := splitCSV(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("splitCSV(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitCSV(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestStreaming tests that a reader hands out records before the rest of
// the list has arrived: a JSON page is not read whole.
func TestStreaming(t *testing.T) {
	head := "{\"data\": [\n" + `{"id": "1", "indicator": "` + p1 + `", "type": "HASH_PDQ"},` + "\n"
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(head))
		// The rest never comes; the reader must not wait for it.
	}()
	defer pw.Close()
	r, err := NewReader(pr, TEUpdates, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan Record)
	go func() {
		rec, err := r.Next()
		if err != nil {
			t.Error(err)
		}
		done <- rec
	}()
	select {
	case rec := <-done:
		if rec.Item.ID != "1" {
			t.Errorf("first record %s, want id 1", describe(rec))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no record before the end of the page")
	}
}

func TestLineError(t *testing.T) {
	var err error = &LineError{Line: 12, Reason: "pdq hash has 63 hex digits, want 64"}
	if got, want := err.Error(), "line 12: pdq hash has 63 hex digits, want 64"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var le *LineError
	if !errors.As(err, &le) || le.Line != 12 {
		t.Errorf("errors.As = %v, want the LineError", le)
	}
}
