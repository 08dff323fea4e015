package server

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
)

// Limits checked at the edge, as stated in the .proto files.
const (
	maxQueryBanks = 100
	maxResults    = 1000
	maxPageSize   = index.MaxPageSize
	// MaxChunkBytes is the largest chunk of a streamed upload: the 1 MiB of
	// the API plus 64 KiB of slack for clients that round differently.
	MaxChunkBytes = 1<<20 + 64<<10
)

// The validators below add what is wrong with one part of a request to vs.
// field is the path of the part from the request message. The domain
// (api/mediamatch) owns the rules for names, ids and labels: the server
// calls them with the request's field path, and their messages say the
// value and what was wanted.

func checkBankName(vs *violations, field, name string) {
	vs.addErr(field, mediamatch.ValidateBankName(field, name))
}

func checkItemID(vs *violations, field, id string) {
	vs.addErr(field, mediamatch.ValidateItemID(field, id))
}

func checkLabels(vs *violations, field string, labels map[string]string) {
	vs.addErr(field, mediamatch.ValidateLabels(field, labels))
}

func checkPageSize(vs *violations, field string, n int32) {
	if n < 0 || n > maxPageSize {
		vs.add(field, "%d, want 0..%d (0 means 100)", n, maxPageSize)
	}
}

func checkItemSpec(vs *violations, field string, spec *pb.ItemSpec) {
	if spec == nil {
		vs.add(field, "missing, want the bank and id of the new item")
		return
	}
	checkBankName(vs, field+".bank", spec.GetBank())
	checkItemID(vs, field+".id", spec.GetId())
	checkLabels(vs, field+".labels", spec.GetLabels())
}

func checkOptions(vs *violations, field string, o *pb.MatchOptions) {
	if o == nil {
		return // all defaults
	}
	if n := len(o.GetBanks()); n > maxQueryBanks {
		vs.add(field+".banks", "%d names, want at most %d", n, maxQueryBanks)
	} else {
		for i, b := range o.GetBanks() {
			checkBankName(vs, fmt.Sprintf("%s.banks[%d]", field, i), b)
		}
	}
	seen := map[pb.SignalType]bool{}
	for i, t := range o.GetThresholds() {
		f := fmt.Sprintf("%s.thresholds[%d]", field, i)
		st, ok := pb.SignalTypeFromProto(t.GetSignal())
		switch {
		case !ok:
			vs.add(f+".signal", "%s, want a perceptual signal type (%s)", t.GetSignal(), perceptualNames())
			continue
		case st.Exact():
			vs.add(f+".signal", "%s is an exact signal with no distance, want a perceptual signal type (%s)",
				t.GetSignal(), perceptualNames())
			continue
		case seen[t.GetSignal()]:
			vs.add(f+".signal", "%s given twice, want each signal type at most once", t.GetSignal())
		}
		seen[t.GetSignal()] = true
		if d := t.GetMaxDistance(); d < 0 || int(d) > st.Bits() {
			vs.add(f+".max_distance", "%d, want 0..%d for %s", d, st.Bits(), st)
		}
	}
	for i, s := range o.GetSignals() {
		if st, ok := pb.SignalTypeFromProto(s); !ok && st != mediamatch.Local {
			vs.add(fmt.Sprintf("%s.signals[%d]", field, i), "%s, want a known signal type or SIGNAL_TYPE_LOCAL", s)
		}
	}
	if n := o.GetMaxResults(); n < 0 || n > maxResults {
		vs.add(field+".max_results", "%d, want 0..%d (0 means 100)", n, maxResults)
	}
}

// checkMedia converts a client-supplied fingerprint and adds what
// pb.CheckMedia (a local feature's descriptor length, which the conversion
// cannot keep) and mediamatch.ValidateMedia find wrong with it, up to
// mediamatch.MaxMediaErrors problems each, named by their fields; an item's
// signals must also be untransformed (a query's keyframe signals may carry
// the dihedral variants). It returns the converted media.
func checkMedia(vs *violations, field string, m *pb.Media, forItem bool) mediamatch.Media {
	if m == nil {
		vs.add(field, "missing, want the fingerprint's keyframes and signals")
		return mediamatch.Media{}
	}
	if len(m.GetKeyframes()) == 0 && len(m.GetFileSignals()) == 0 {
		vs.add(field, "no signals, want at least one keyframe or file signal")
	}
	vs.addErr(field, pb.CheckMedia(field, m))
	media := pb.MediaFromProto(m)
	err := mediamatch.ValidateMedia(field, media)
	if err == nil && forItem {
		err = mediamatch.ValidateUntransformed(field, media)
	}
	vs.addErr(field, err)
	return media
}

func perceptualNames() string {
	var names []string
	for _, t := range mediamatch.SignalTypes() {
		if !t.Exact() {
			names = append(names, pb.SignalTypeToProto(t).String())
		}
	}
	return strings.Join(names, ", ")
}

// pageTokenError returns err, or for the index's refusal of a page token
// (opaque to the edge, which cannot check it) an *invalidError naming
// field. The token is never echoed whole (addErr clips it).
func pageTokenError(field string, err error) error {
	if e, ok := errors.AsType[*mediamatch.Error](err); ok && e.Code == mediamatch.Invalid {
		var vs violations
		vs.addErr(field, &mediamatch.Error{Code: e.Code, Msg: e.Msg})
		return vs.err()
	}
	return err
}

// maxQuoted is the most of a value quote echoes, in bytes.
const maxQuoted = 80

// quote quotes s for a message, shortened when long so that an error never
// echoes a huge value.
func quote(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q... (%d bytes)", clipUTF8(s, maxQuoted), len(s))
	}
	return fmt.Sprintf("%q", s)
}

// maxReason is the most of a domain error's message a violation keeps,
// in bytes (addErr).
const maxReason = 300

// clipUTF8 returns the longest prefix of s of at most n bytes that does
// not cut a UTF-8 sequence.
func clipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cleanText returns s fit to echo in a message or store in the audit log:
// control and format characters (newlines, terminal escapes, bidi
// overrides) and invalid UTF-8 written as Go escapes (\n, \x1b, \u202e),
// and cut after about limit bytes with a note of the whole length.
func cleanText(s string, limit int) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		part := s[i : i+w]
		switch {
		case r == utf8.RuneError && w == 1:
			part = fmt.Sprintf(`\x%02x`, s[i])
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			q := strconv.QuoteRuneToASCII(r)
			part = q[1 : len(q)-1]
		}
		if b.Len()+len(part) > limit {
			fmt.Fprintf(&b, "... (%d bytes)", len(s))
			break
		}
		b.WriteString(part)
		i += w
	}
	return b.String()
}
