package hashlist

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// This file holds what every partner format shares: the names partners
// give signal types, hash parsing, and the entry that each format's
// decoder fills in and turns into a Record.

// typeSpec is what a partner's signal type name stands for.
type typeSpec struct {
	sig   mediamatch.SignalType // "" for a type mediamatch does not store
	video bool                  // the name says the hash is of a video
}

// typeNames maps the lowercased names partners give signal types (python-
// threatexchange, ThreatExchange, TCAP, NCMEC, StopNCII, and mediamatch's
// own) to what they stand for. Read only.
var typeNames = map[string]typeSpec{
	"pdq":            {sig: mediamatch.PDQ},
	"hash_pdq":       {sig: mediamatch.PDQ},
	"imagepdq":       {sig: mediamatch.PDQ},
	"md5":            {sig: mediamatch.MD5},
	"hash_md5":       {sig: mediamatch.MD5},
	"photo_md5":      {sig: mediamatch.MD5},
	"video_md5":      {sig: mediamatch.MD5, video: true},
	"hash_video_md5": {sig: mediamatch.MD5, video: true},
	"videomd5":       {sig: mediamatch.MD5, video: true},
	"sha256":         {sig: mediamatch.SHA256},
	"hash_sha256":    {sig: mediamatch.SHA256},
	"phash":          {sig: mediamatch.PHash},
	"dhash":          {sig: mediamatch.DHash},
	// Known, not stored.
	"tmk": {}, "hash_tmk": {}, "videotmk": {}, "video_tmk": {}, "vpdq": {}, "hash_vpdq": {},
	"sha1": {}, "hash_sha1": {}, "sha512": {}, "hash_sha512": {}, "pdna": {}, "photodna": {},
	"hash_photodna": {}, "netic": {}, "url": {}, "uri": {}, "url_md5": {}, "raw_text": {}, "trend_query": {},
}

// lookupType returns what the signal type name stands for, or an error
// saying that the name is missing, unknown or not supported.
func lookupType(name string) (typeSpec, error) {
	if name == "" {
		return typeSpec{}, errors.New("missing signal type")
	}
	spec, ok := typeNames[strings.ToLower(name)]
	switch {
	case !ok:
		return typeSpec{}, fmt.Errorf("unknown signal type %q, want pdq, md5, video_md5, sha256, phash or dhash", clip(name))
	case spec.sig == "":
		return typeSpec{}, fmt.Errorf("unsupported signal type %s", name)
	}
	return spec, nil
}

// guessType returns the type of a hash listed without one: opt (from
// ReaderOptions.SignalType) if set, else MD5 for 32 hex digits and PDQ for
// anything else (so that a PDQ hash of the wrong length reads as one).
func guessType(opt typeSpec, h string) typeSpec {
	switch {
	case opt.sig != "":
		return opt
	case len(h) == mediamatch.MD5.Bits()/4:
		return typeSpec{sig: mediamatch.MD5}
	}
	return typeSpec{sig: mediamatch.PDQ}
}

// decodeHash decodes h, hexadecimal in either case, as a hash of type t.
func decodeHash(t mediamatch.SignalType, h string) (mediamatch.Signal, error) {
	want := t.Bits() / 4
	if h == "" {
		return mediamatch.Signal{}, fmt.Errorf("missing %s hash", t)
	}
	for i := 0; i < len(h); i++ {
		if !isHex(h[i]) {
			return mediamatch.Signal{}, fmt.Errorf("%s hash %q has a non-hex character %q at %d", t, clip(h), h[i], i)
		}
	}
	if len(h) != want {
		return mediamatch.Signal{}, fmt.Errorf("%s hash has %d hex digits, want %d", t, len(h), want)
	}
	b, err := hex.DecodeString(h)
	if err != nil { // unreachable after the checks above
		return mediamatch.Signal{}, fmt.Errorf("%s hash: %v", t, err)
	}
	return mediamatch.Signal{Type: t, Hash: b}, nil
}

// constant reports whether every byte of h is the same: the hash of a
// blank image or a placeholder, which would match everything like it.
func constant(h []byte) bool {
	for _, b := range h {
		if b != h[0] {
			return false
		}
	}
	return true
}

// parseSignal parses a listed hash of the named type. It refuses constant
// hashes.
func parseSignal(spec typeSpec, h string) (mediamatch.Signal, error) {
	s, err := decodeHash(spec.sig, h)
	if err != nil {
		return s, err
	}
	if constant(s.Hash) {
		return s, fmt.Errorf("%s hash %s is constant, want the hash of real content", s.Type, clip(s.Hex()))
	}
	return s, nil
}

// setQuality gives a PDQ signal its listed quality, or DefaultQuality when
// the list gives none. A listed hash that is not Matchable (a quality under
// PDQ.MinQuality) is an error: the item would never match.
func setQuality(s *mediamatch.Signal, q int, given bool) error {
	if s.Type != mediamatch.PDQ {
		return nil
	}
	if !given {
		s.Quality = DefaultQuality
		return nil
	}
	s.Quality = q
	if !s.Matchable() {
		return fmt.Errorf("pdq quality %d, want at least %d", q, s.Type.MinQuality())
	}
	return nil
}

// hashID is the item id of a record without an id of its own.
func hashID(s mediamatch.Signal) string { return string(s.Type) + "-" + s.Hex() }

// mediaOf returns the fingerprint of a listed item: the exact signals as
// file signals, the perceptual ones in a single keyframe.
func mediaOf(video bool, format string, sigs []mediamatch.Signal) mediamatch.Media {
	m := mediamatch.Media{Kind: mediamatch.KindImage, Format: format}
	if video {
		m.Kind = mediamatch.KindVideo
	}
	var kf []mediamatch.Signal
	for _, s := range sigs {
		if s.Type.Exact() {
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

// videoTag is the ThreatExchange tag that marks an MD5 as a video's.
const videoTag = "media_type_video"

// tagPrefix starts the label keys that hold tags.
const tagPrefix = "tag:"

// labels collects an item's labels.
type labels map[string]string

// set sets k to v unless v is empty.
func (l *labels) set(k, v string) {
	if v == "" {
		return
	}
	if *l == nil {
		*l = labels{}
	}
	(*l)[k] = v
}

// addTags adds a "tag:<tag>" label for each tag that fits (see the
// package comment).
func (l *labels) addTags(tags []string) {
	for _, t := range tags {
		k := tagPrefix + t
		if t == "" || mediamatch.ValidateLabelKey("", k) != nil || len(*l) >= mediamatch.MaxLabels {
			continue
		}
		if *l == nil {
			*l = labels{}
		}
		(*l)[k] = ""
	}
}

// typedHash is one hash as a list gives it.
type typedHash struct {
	name string // the type as the list names it
	spec typeSpec
	err  error // from lookupType: the type is missing, unknown or unsupported
	hash string
}

// named returns the hash h of the type called name.
func named(name, h string) typedHash {
	spec, err := lookupType(name)
	return typedHash{name: name, spec: spec, err: err, hash: h}
}

// entry is one record of a partner's list as its format decoder read it.
// Its record method checks it and turns it into a Record.
type entry struct {
	id      string // the list's own id; "" to derive it from the first hash
	hashes  []typedHash
	quality int // PDQ quality, if hasQ
	hasQ    bool
	video   bool   // the list says the media is a video
	format  string // Media.Format
	delete  bool
	labels  labels
	tags    []string
	partner string
	first   time.Time // Source.FirstSeen
	updated time.Time // Source.Updated
}

// record checks e and returns its Record (without the line, which the
// caller knows). A retraction with an id of its own needs nothing else. In
// a record of several hashes (NCMEC's fingerprints), those of types
// mediamatch does not store are left out; the record is bad if none is
// left.
func (e *entry) record() (Record, error) {
	if len(e.tags) == 0 {
		e.tags = nil
	}
	rec := Record{Delete: e.delete, Item: mediamatch.Item{ID: e.id,
		Source: &mediamatch.Source{Partner: e.partner, UpstreamID: e.id, Tags: e.tags, FirstSeen: e.first, Updated: e.updated}}}
	if e.delete && e.id != "" {
		return rec, nil
	}
	var (
		sigs    []mediamatch.Signal
		skipped []string
	)
	for _, h := range e.hashes {
		if h.err != nil {
			if len(e.hashes) == 1 {
				return Record{}, h.err
			}
			skipped = append(skipped, clip(h.name))
			continue
		}
		s, err := parseSignal(h.spec, h.hash)
		if err != nil {
			return Record{}, err
		}
		if err := setQuality(&s, e.quality, e.hasQ); err != nil {
			return Record{}, err
		}
		e.video = e.video || h.spec.video
		sigs = append(sigs, s)
	}
	if len(sigs) == 0 {
		if len(skipped) == 0 {
			return Record{}, errors.New("no hash")
		}
		return Record{}, fmt.Errorf("no hash of a supported type (have %s)", strings.Join(skipped, ", "))
	}
	if rec.Item.ID == "" {
		rec.Item.ID = hashID(sigs[0])
	}
	if e.delete {
		return rec, nil
	}
	for _, t := range e.tags {
		e.video = e.video || t == videoTag
	}
	e.labels.addTags(e.tags)
	rec.Item.Labels = e.labels
	rec.Item.Media = mediaOf(e.video, e.format, sigs)
	return rec, nil
}

// maxUnix bounds Unix times: the end of year 9999.
const maxUnix = 253402300799

// timeLayouts are the ISO-8601 forms partners write: RFC 3339, and
// ThreatExchange's offset without a colon ("2020-07-31T18:47:45+0000").
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

// parseTime parses the time field called name: an ISO-8601 time or Unix
// seconds (a decimal fraction allowed), in UTC. An empty s is the zero time.
func parseTime(name, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if strings.Trim(s, "0123456789.") == "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > maxUnix {
			return time.Time{}, fmt.Errorf("%s %q, want Unix seconds up to %d", name, clip(s), maxUnix)
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9+0.5)).UTC(), nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q, want an ISO-8601 time such as 2024-08-01T00:00:00Z", name, clip(s))
}

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
