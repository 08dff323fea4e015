package mediamatch

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	h := func(n int) []byte { return make([]byte, n) }
	still := func(sigs ...Signal) Media {
		return Media{Kind: KindImage, Keyframes: []Keyframe{{Signals: sigs}}}
	}
	video := Media{Kind: KindVideo, Duration: 2 * time.Second, Keyframes: []Keyframe{
		{Index: 0, Start: 0, End: time.Second, Signals: []Signal{{Type: PHash, Hash: h(8)}}},
		{Index: 5, Start: time.Second, End: 2 * time.Second, Signals: []Signal{{Type: PHash, Hash: h(8)}}},
	}}
	labels := func(n int) map[string]string {
		l := make(map[string]string, n)
		for i := range n {
			l[fmt.Sprintf("k%d", i)] = "v"
		}
		return l
	}
	tests := []struct {
		name string
		err  error
		// field is the field the error names; "" for a valid value.
		field string
		// has is a part of the message: the value or what was wanted.
		has string
	}{
		{"bank a", ValidateBankName("b", "a"), "", ""},
		{"bank 64", ValidateBankName("b", long(64)), "", ""},
		{"bank 9_x.y-z", ValidateBankName("b", "9_x.y-z"), "", ""},
		{"bank empty", ValidateBankName("bank.name", ""), "bank.name", `"" has 0 characters, want 1..64`},
		{"bank 65", ValidateBankName("b", long(65)), "b", "has 65 characters"},
		{"bank upper", ValidateBankName("b", "Abc"), "b", `"Abc" starts with 'A'`},
		{"bank leading dot", ValidateBankName("b", ".abc"), "b", `starts with '.'`},
		{"bank slash", ValidateBankName("req.banks[2]", "a/b"), "req.banks[2]", `"a/b" contains '/'`},
		{"bank space", ValidateBankName("b", "a b"), "b", `contains ' '`},

		{"description ok", ValidateDescription("d", "résumé"), "", ""},
		{"description long", ValidateDescription("bank.description", long(1025)), "bank.description", "1025 bytes, want at most 1024"},
		{"description bad utf8", ValidateDescription("d", "\xff"), "d", "not valid UTF-8"},

		{"id simple", ValidateItemID("id", "tcap:123-ABC_x.y"), "", ""},
		{"id 128", ValidateItemID("id", long(128)), "", ""},
		{"id empty", ValidateItemID("item.id", ""), "item.id", `"" has 0 bytes, want 1..128 bytes of printable ASCII`},
		{"id 129", ValidateItemID("id", long(129)), "id", "has 129 bytes"},
		{"id space", ValidateItemID("id", "a b"), "id", `contains ' ' at byte 1`},
		{"id slash", ValidateItemID("AddItemRequest.spec.id", "a/b"), "AddItemRequest.spec.id", `"a/b" contains '/' at byte 1, want`},
		{"id non-ascii", ValidateItemID("id", "é"), "id", "at byte 0"},
		{"id control", ValidateItemID("id", "a\x00"), "id", `'\x00' at byte 1`},

		{"labels nil", ValidateLabels("l", nil), "", ""},
		{"labels ok", ValidateLabels("l", map[string]string{"entity": "", long(64): long(256)}), "", ""},
		{"labels empty key", ValidateLabels("item.labels", map[string]string{"": "v"}), "item.labels", `key "" has 0 bytes, want 1..64`},
		{"labels long key", ValidateLabels("l", map[string]string{long(65): "v"}), "l", "has 65 bytes, want 1..64"},
		{"labels long value", ValidateLabels("l", map[string]string{"k": long(257)}), "l", `value of "k" has 257 bytes, want at most 256`},
		{"labels bad utf8", ValidateLabels("l", map[string]string{"k": "\xff"}), "l", `value of "k" is not valid UTF-8`},
		{"labels too many", ValidateLabels("l", labels(65)), "l", "65 labels, want at most 64"},
		{"labels 64", ValidateLabels("l", labels(64)), "", ""},
		{"label key ok", ValidateLabelKey("k", "tag:x"), "", ""},
		{"label key long", ValidateLabelKey("k", long(65)), "k", "has 65 bytes, want 1..64"},
		{"label key bad utf8", ValidateLabelKey("k", "\xff"), "k", "is not valid UTF-8, want UTF-8 text"},

		{"source nil", ValidateSource("s", nil), "", ""},
		{"source ok", ValidateSource("s", &Source{Format: "tcap", Partner: "p", Tags: []string{"a"}}), "", ""},
		{"source partner", ValidateSource("ImportSignalsRequest", &Source{Partner: long(257)}), "ImportSignalsRequest.partner", "want at most 256 bytes"},
		{"source upstream id", ValidateSource("item.source", &Source{UpstreamID: "\xff"}), "item.source.upstream_id", "of UTF-8"},
		{"source tag", ValidateSource("item.source", &Source{Tags: []string{"a", long(257)}}), "item.source.tags[1]", "want at most 256 bytes"},
		{"source tags", ValidateSource("item.source", &Source{Tags: make([]string, 65)}), "item.source.tags", "65 tags, want at most 64"},

		{"media still", ValidateMedia("m", still(Signal{Type: PHash, Hash: h(8)}, Signal{Type: DHash, Hash: h(8)})), "", ""},
		{"media empty", ValidateMedia("m", Media{}), "", ""},
		{"media video", ValidateMedia("m", video), "", ""},
		{"media short hash", ValidateMedia("item.media", still(Signal{Type: PHash, Hash: h(1)})),
			"item.media.keyframes[0].signals[0].hash", "phash hash is 1 bytes, want 8"},
		{"media unknown type", ValidateMedia("m", still(Signal{Type: "ahash", Hash: h(8)})),
			"m.keyframes[0].signals[0].type", `unknown type "ahash", want one of`},
		{"media repeated type", ValidateMedia("m", still(Signal{Type: PHash, Hash: h(8)}, Signal{Type: PHash, Hash: h(8)})),
			"m.keyframes[0].signals[1].type", "phash repeated, want each type at most once"},
		{"media exact in keyframe", ValidateMedia("m", still(Signal{Type: MD5, Hash: h(16)})),
			"m.keyframes[0].signals[0].type", "md5, want a perceptual type"},
		{"media perceptual file signal", ValidateMedia("m", Media{FileSignals: []Signal{{Type: PHash, Hash: h(8)}}}),
			"m.file_signals[0].type", "phash, want an exact type"},
		{"media quality", ValidateMedia("m", still(Signal{Type: PHash, Hash: h(8), Quality: 101})),
			"m.keyframes[0].signals[0].quality", "quality 101, want 0..100"},
		{"media kind", ValidateMedia("m", Media{Kind: 7}), "m.kind", "7, want unknown, image or video"},
		{"media format", ValidateMedia("m", Media{Format: long(65)}), "m.format", "want at most 64 bytes"},
		{"media duration", ValidateMedia("m", Media{Duration: -1}), "m.duration", "want non-negative"},
		{"media too many keyframes", ValidateMedia("m", Media{Keyframes: make([]Keyframe, MaxKeyframes+1)}),
			"m.keyframes", "10001 keyframes, want at most 10000"},
		{"media index not increasing", ValidateMedia("m", Media{Keyframes: make([]Keyframe, 2)}),
			"m.keyframes[1]", "index 0, want non-negative and increasing"},
		{"media end before start", ValidateMedia("m", Media{Keyframes: []Keyframe{{Start: 2, End: 1}}}),
			"m.keyframes[0]", "want 0 <= start <= end"},
		{"media too many signals", ValidateMedia("m", Media{Keyframes: []Keyframe{{Signals: make([]Signal, 65)}}}),
			"m.keyframes[0].signals", "65 signals, want at most 64"},
		{"media bad view", ValidateMedia("m", Media{Keyframes: []Keyframe{{Signals: []Signal{
			{Type: PDQ, Hash: make([]byte, 32), View: View{Region: Region{X0: 500, Y0: 0, X1: 400, Y1: 1000}}}}}}}),
			"m.keyframes[0].signals[0].view.region", "want 0 <= x0 < x1 <= 1000"},
		{"media view repeated", ValidateMedia("m", Media{Keyframes: []Keyframe{{Signals: []Signal{
			{Type: PDQ, Hash: make([]byte, 32), View: View{Trimmed: true}}, {Type: PDQ, Hash: make([]byte, 32), View: View{Trimmed: true}}}}}}),
			"m.keyframes[0].signals[1].type", "each type, transform and view at most once"},
		{"media too many file signals", ValidateMedia("m", Media{FileSignals: make([]Signal, 17)}),
			"m.file_signals", "17 signals, want at most 16"},

		{"untransformed ok", ValidateUntransformed("m", still(Signal{Type: PDQ, Hash: h(32)})), "", ""},
		{"untransformed", ValidateUntransformed("item.media", still(Signal{Type: PDQ, Hash: h(32)}, Signal{Type: PDQ, Hash: h(32), Transform: FlipX})),
			"item.media.keyframes[0].signals[1].transform", "4 on a pdq signal, want none"},

		{"token name ok", ValidateTokenName("n", "ci uploader ✓"), "", ""},
		{"token name empty", ValidateTokenName("CreateTokenRequest.name", ""), "CreateTokenRequest.name", `"" has 0 bytes, want 1..128`},
		{"token name long", ValidateTokenName("n", long(129)), "n", "has 129 bytes"},
		{"token name control", ValidateTokenName("n", "a\nb"), "n", "contains U+000A at byte 1"},
		{"token name bidi", ValidateTokenName("n", "a\u202eb"), "n", "contains U+202E"},
		{"token name bad utf8", ValidateTokenName("n", "\xff"), "n", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.field == "" && tt.has == "" {
				if tt.err != nil {
					t.Errorf("got %v, want nil", tt.err)
				}
				return
			}
			e, ok := errors.AsType[*Error](tt.err)
			if !ok {
				t.Fatalf("got %v (%T), want an *Error", tt.err, tt.err)
			}
			if e.Code != Invalid || !errors.Is(tt.err, ErrInvalid) {
				t.Errorf("code %q, want %q (and errors.Is ErrInvalid)", e.Code, Invalid)
			}
			if e.Field != tt.field {
				t.Errorf("field %q, want %q", e.Field, tt.field)
			}
			if !strings.Contains(e.Msg, tt.has) || !strings.Contains(e.Msg, "want") {
				t.Errorf("message %q, want it to contain %q and say what was wanted", e.Msg, tt.has)
			}
			if want := tt.field + ": " + e.Msg; tt.err.Error() != want {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), want)
			}
		})
	}
}

func TestError(t *testing.T) {
	cause := errors.New("disk on fire")
	tests := []struct {
		err  *Error
		text string
		is   error
		not  error
	}{
		{Errorf(NotFound, "", "item %q in bank %q", "x", "b"), `item "x" in bank "b"`, ErrNotFound, ErrInvalid},
		{Errorf(Invalid, "item.id", "%q, want more", "x"), `item.id: "x", want more`, ErrInvalid, ErrNotFound},
		{&Error{Code: NoSpace, Msg: "no room", Err: cause}, "no room: disk on fire", cause, ErrClosed},
		{ErrClosed, "closed", ErrClosed, ErrNotFound},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.text {
			t.Errorf("Error() = %q, want %q", got, tt.text)
		}
		wrapped := fmt.Errorf("context: %w", tt.err)
		if !errors.Is(wrapped, tt.is) {
			t.Errorf("errors.Is(%q, %v) = false, want true", wrapped, tt.is)
		}
		if errors.Is(wrapped, tt.not) {
			t.Errorf("errors.Is(%q, %v) = true, want false", wrapped, tt.not)
		}
		if got := CodeOf(wrapped); got != tt.err.Code {
			t.Errorf("CodeOf(%q) = %q, want %q", wrapped, got, tt.err.Code)
		}
	}
	// A particular error is no sentinel: only code-only errors match by code.
	a, b := Errorf(NotFound, "", "bank %q", "a"), Errorf(NotFound, "", "bank %q", "b")
	if errors.Is(a, b) {
		t.Errorf("errors.Is(%q, %q) = true, want false", a, b)
	}
	if got := CodeOf(errors.New("plain")); got != "" {
		t.Errorf("CodeOf(plain error) = %q, want none", got)
	}
}

// TestValidateMediaReportsAll: ValidateMedia names every bad signal, up to
// MaxMediaErrors, so that a client fixes them in one round trip.
func TestValidateMediaReportsAll(t *testing.T) {
	bad := Signal{Type: PDQ, Hash: make([]byte, 31)} // a byte short
	m := Media{Kind: KindVideo}
	for i := range 3 {
		m.Keyframes = append(m.Keyframes, Keyframe{Index: i, Signals: []Signal{bad}})
	}
	err := ValidateMedia("m", m)
	es, ok := err.(Errors)
	if !ok || len(es) != 3 {
		t.Fatalf("ValidateMedia(3 short hashes) = %v, want Errors of 3", err)
	}
	for i, e := range es {
		if want := fmt.Sprintf("m.keyframes[%d].signals[0].hash", i); e.Field != want || e.Code != Invalid {
			t.Errorf("error %d = %q %q, want field %q, code invalid", i, e.Code, e.Field, want)
		}
	}
	if !errors.Is(err, ErrInvalid) || CodeOf(err) != Invalid || !strings.Contains(err.Error(), "(and 2 more)") {
		t.Errorf("Errors: Is(ErrInvalid)=%v CodeOf=%q text %q; want true, invalid, a count of the others",
			errors.Is(err, ErrInvalid), CodeOf(err), err)
	}
	for i := range 50 {
		m.Keyframes = append(m.Keyframes, Keyframe{Index: 3 + i, Signals: []Signal{bad}})
	}
	if es, _ := ValidateMedia("m", m).(Errors); len(es) != MaxMediaErrors {
		t.Errorf("ValidateMedia(53 short hashes) reports %d, want MaxMediaErrors (%d)", len(es), MaxMediaErrors)
	}
	ok1 := Media{Kind: KindImage, Keyframes: []Keyframe{{Signals: []Signal{{Type: PDQ, Hash: make([]byte, 32)}}}}}
	if err := ValidateMedia("m", ok1); err != nil {
		t.Errorf("ValidateMedia(good) = %v (a typed nil?), want nil", err)
	}
}

// TestValidateItem: an item is checked field by field below the path given,
// its media untransformed.
func TestValidateItem(t *testing.T) {
	pdq := Signal{Type: PDQ, Hash: make([]byte, 32), Quality: 100}
	good := Item{ID: "a", Labels: map[string]string{"k": "v"}, Media: Media{Kind: KindImage, Keyframes: []Keyframe{{Signals: []Signal{pdq}}}}}
	if err := ValidateItem("item", good); err != nil {
		t.Fatalf("ValidateItem(good) = %v", err)
	}
	turned := good
	turned.Media.Keyframes = []Keyframe{{Signals: []Signal{{Type: PDQ, Hash: pdq.Hash, Quality: 100, Transform: Rotate90}}}}
	badID, badSource := good, good
	badID.ID = "a/b"
	badSource.Source = &Source{Tags: make([]string, MaxSourceTags+1)}
	for _, c := range []struct {
		it    Item
		field string
	}{
		{badID, "item.id"},
		{badSource, "item.source.tags"},
		{turned, "item.media.keyframes[0].signals[0].transform"},
	} {
		err := ValidateItem("item", c.it)
		if e, ok := errors.AsType[*Error](err); !ok || e.Field != c.field || e.Code != Invalid {
			t.Errorf("ValidateItem = %v, want an invalid-argument error naming %s", err, c.field)
		}
	}
}

// TestValidateMediaAllocatesNothing: a valid media is checked without
// allocating (field paths are made only for errors), since every signal of
// every imported list line is validated, twice (reader and index).
func TestValidateMediaAllocatesNothing(t *testing.T) {
	m := Media{Kind: KindVideo, FileSignals: []Signal{{Type: MD5, Hash: make([]byte, 16)}}}
	for i := range 3 {
		m.Keyframes = append(m.Keyframes, Keyframe{Index: i, Signals: []Signal{
			{Type: PDQ, Hash: make([]byte, 32), Quality: 100}, {Type: PHash, Hash: make([]byte, 8)}}})
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := ValidateMedia("item.media", m); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ValidateMedia(valid) allocates %v times, want 0", n)
	}
}
