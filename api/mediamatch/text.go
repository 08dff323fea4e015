package mediamatch

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file reads and writes the text forms in which partners exchange
// PDQ hashes:
//
//   - a PDQ hash alone: 64 hexadecimal digits, lowercase when written
//     (Signal.Hex), either case accepted when read (ParsePDQ);
//   - the reference photo hasher's output line, "hash,quality,path"
//     (WriteHashLine, ParseHashLine), e.g.
//     "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22,100,bridge.jpg";
//   - vPDQ's per-frame file for a video, one line per sampled frame,
//     "frame_index,quality,pdqhex,timestamp_seconds" with the timestamp
//     written with 3 decimals (WriteVPDQ, ParseVPDQ), e.g.
//     "30,100,df83b48f2ad34d68169c36bc6d2f6b36ce5ed08701a301e9cbb9fc12f80b8154,1.000".

// ParsePDQ, ParseHashLine, ParseVPDQ and ParseVPDQLine return an *Error
// of code Syntax (errors.Is(err, ErrSyntax)) for text that is not in the
// expected form; the message says where (line number for ParseVPDQ) and
// what was wrong, with no prefix.

// vpdqDefaultPeriod is the sampling period vPDQ uses by default (one frame
// a second): the length given to the last frame of a one-line vPDQ file.
const vpdqDefaultPeriod = time.Second

// ParsePDQ parses a PDQ hash written as 64 hexadecimal digits, either case,
// surrounding spaces ignored. The signal's Quality is 0: a bare hash says
// nothing about its quality, and the caller decides what to record (a
// partner's list normally holds only hashes of quality PDQ.MinQuality() or
// more; a signal of lower quality is never indexed or matched). It returns
// an *Error of code Syntax for anything else.
func ParsePDQ(s string) (Signal, error) {
	h, err := parsePDQHex(strings.TrimSpace(s))
	if err != nil {
		return Signal{}, syntaxf("%v", err)
	}
	return Signal{Type: PDQ, Hash: h}, nil
}

// The parsing helpers below return errors that say what is wrong; the
// exported functions make them Syntax errors that say where.

// parsePDQHex decodes exactly 64 hex digits.
func parsePDQHex(s string) ([]byte, error) {
	n := PDQ.Bits() / 4
	if len(s) != n {
		return nil, fmt.Errorf("PDQ hash %q is %d characters, want %d hex digits", clip(s), len(s), n)
	}
	h, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("PDQ hash %q: want %d hex digits", clip(s), n)
	}
	return h, nil
}

// parseQuality parses a quality score: a decimal integer 0..100.
func parseQuality(s string) (int, error) {
	q, err := strconv.Atoi(s)
	if err != nil || !isDigits(s) || q > 100 {
		return 0, fmt.Errorf("quality %q, want an integer 0..100", clip(s))
	}
	return q, nil
}

// WriteHashLine writes s, a PDQ signal, as one line of the reference
// photo hasher's output: "hash,quality,path" and a newline, the hash in
// lowercase hex. It returns an error if s is not a valid PDQ signal or path
// holds a line break, else the writer's error.
func WriteHashLine(w io.Writer, s Signal, path string) error {
	if err := checkPDQ(s); err != nil {
		return err
	}
	if strings.ContainsAny(path, "\r\n") {
		return fmt.Errorf("mediamatch: hash line: path %q has a line break", clip(path))
	}
	_, err := fmt.Fprintf(w, "%s,%d,%s\n", s.Hex(), s.Quality, path)
	return err
}

// ParseHashLine parses one line of the reference photo hasher's output,
// "hash,quality,path" (a trailing newline or carriage return is ignored),
// into a PDQ signal and the path. The path is everything after the second
// comma and may itself hold commas. It returns an *Error of code Syntax
// for a line in any other form.
func ParseHashLine(line string) (Signal, string, error) {
	line = strings.TrimRight(line, "\r\n")
	hash, rest, ok1 := strings.Cut(line, ",")
	quality, path, ok2 := strings.Cut(rest, ",")
	if !ok1 || !ok2 {
		return Signal{}, "", syntaxf("hash line %q: want hash,quality,path", clip(line))
	}
	h, err := parsePDQHex(hash)
	if err != nil {
		return Signal{}, "", syntaxf("hash line: %v", err)
	}
	q, err := parseQuality(quality)
	if err != nil {
		return Signal{}, "", syntaxf("hash line: %v", err)
	}
	return Signal{Type: PDQ, Hash: h, Quality: q}, path, nil
}

// WriteVPDQ writes the keyframes of a video fingerprint in vPDQ's
// per-frame format, one line per keyframe:
// "frame_index,quality,pdqhex,timestamp_seconds" with the keyframe's Index
// as the frame index (the position among the keyframes for a hashed video;
// the frame number for one read by ParseVPDQ, so that a vPDQ file written
// back is unchanged), its untransformed PDQ signal, and its Start in
// seconds with 3 decimals. A keyframe that stands for a run of folded
// samples is written once, at the start of its run.
//
// It returns an error if m is not a video or a keyframe has no PDQ signal
// (nothing is written then), else the writer's error.
func WriteVPDQ(w io.Writer, m Media) error {
	if m.Kind != KindVideo {
		return fmt.Errorf("mediamatch: vPDQ: media is an %v, want a video", m.Kind)
	}
	var b strings.Builder
	for i, k := range m.Keyframes {
		s, ok := k.Signal(PDQ)
		if !ok || s.Transform != TransformNone {
			return fmt.Errorf("mediamatch: vPDQ: keyframe %d has no PDQ signal", i)
		}
		if err := checkPDQ(s); err != nil {
			return fmt.Errorf("mediamatch: vPDQ: keyframe %d: %w", i, err)
		}
		if k.Index < 0 || k.Start < 0 {
			return fmt.Errorf("mediamatch: vPDQ: keyframe %d: index %d at %v, want both non-negative", i, k.Index, k.Start)
		}
		fmt.Fprintf(&b, "%d,%d,%s,%s\n", k.Index, s.Quality, s.Hex(),
			strconv.FormatFloat(k.Start.Seconds(), 'f', 3, 64))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ParseVPDQ reads a vPDQ per-frame file ("frame_index,quality,pdqhex,
// timestamp_seconds" lines; blank lines and carriage returns are ignored)
// into a video fingerprint with one keyframe per line: Index is the frame
// index, Signals the PDQ hash with its quality, Start the timestamp, End
// the next line's timestamp. The last keyframe lasts one sampling period,
// the smallest gap between consecutive timestamps (1 s, vPDQ's default
// period, for a one-line file), and Duration is its End. Frame indices and
// timestamps must increase strictly.
//
// It returns an *Error of code Syntax, naming the line, for a line in
// any other form or out of order, or the reader's error.
func ParseVPDQ(r io.Reader) (Media, error) {
	sc := bufio.NewScanner(r)
	var kfs []Keyframe
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, err := parseVPDQLine(line)
		if err != nil {
			return Media{}, syntaxf("vPDQ line %d: %v", n, err)
		}
		if p := len(kfs) - 1; p >= 0 && (k.Index <= kfs[p].Index || k.Start <= kfs[p].Start) {
			return Media{}, syntaxf("vPDQ line %d: frame %d at %v after frame %d at %v, want both increasing", n, k.Index, k.Start, kfs[p].Index, kfs[p].Start)
		}
		kfs = append(kfs, k)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Media{}, syntaxf("vPDQ line %d: longer than %d bytes", n+1, bufio.MaxScanTokenSize)
		}
		return Media{}, fmt.Errorf("mediamatch: reading vPDQ: %w", err)
	}
	if len(kfs) == 0 {
		return Media{}, syntaxf("vPDQ file has no frames")
	}
	period := vpdqDefaultPeriod
	if len(kfs) > 1 {
		gaps := make([]time.Duration, len(kfs)-1)
		for i := range gaps {
			kfs[i].End = kfs[i+1].Start
			gaps[i] = kfs[i+1].Start - kfs[i].Start
		}
		period = slices.Min(gaps)
	}
	last := &kfs[len(kfs)-1]
	last.End = last.Start + period
	return Media{Kind: KindVideo, Duration: last.End, Keyframes: kfs}, nil
}

// ParseVPDQLine parses one line of a vPDQ file,
// "frame_index,quality,pdqhex,timestamp_seconds", into a keyframe with
// Index, Start and the PDQ signal (End is left zero: it is the next line's
// timestamp). It returns an *Error of code Syntax for a line in any other
// form.
func ParseVPDQLine(line string) (Keyframe, error) {
	k, err := parseVPDQLine(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return Keyframe{}, syntaxf("%v", err)
	}
	return k, nil
}

// syntaxf returns an *Error of code Syntax with the message format and
// args make.
func syntaxf(format string, args ...any) error { return Errorf(Syntax, "", format, args...) }

// parseVPDQLine parses "frame_index,quality,pdqhex,timestamp_seconds".
func parseVPDQLine(line string) (Keyframe, error) {
	f := strings.Split(line, ",")
	if len(f) != 4 {
		return Keyframe{}, fmt.Errorf("%q has %d fields, want frame_index,quality,pdqhex,timestamp_seconds",
			clip(line), len(f))
	}
	frame, err := strconv.Atoi(f[0])
	if err != nil || !isDigits(f[0]) {
		return Keyframe{}, fmt.Errorf("frame index %q, want a non-negative integer", clip(f[0]))
	}
	q, err := parseQuality(f[1])
	if err != nil {
		return Keyframe{}, err
	}
	h, err := parsePDQHex(f[2])
	if err != nil {
		return Keyframe{}, err
	}
	ts, err := parseSeconds(f[3])
	if err != nil {
		return Keyframe{}, err
	}
	return Keyframe{Index: frame, Start: ts, Signals: []Signal{{Type: PDQ, Hash: h, Quality: q}}}, nil
}

// maxSeconds bounds timestamps: far beyond any video, far within a
// time.Duration.
const maxSeconds = 1e7

// parseSeconds parses a timestamp written as decimal seconds ("12",
// "12.345"), to the nanosecond.
func parseSeconds(s string) (time.Duration, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if !isDigits(whole) || (strings.Contains(s, ".") && !isDigits(frac)) {
		return 0, fmt.Errorf("timestamp %q, want decimal seconds", clip(s))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v > maxSeconds {
		return 0, fmt.Errorf("timestamp %q, want decimal seconds up to %g", clip(s), float64(maxSeconds))
	}
	return time.Duration(v*float64(time.Second) + 0.5), nil
}

// checkPDQ returns an error unless s is a valid PDQ signal.
func checkPDQ(s Signal) error {
	if s.Type != PDQ {
		return fmt.Errorf("mediamatch: %s signal where a PDQ one is wanted", s.Type)
	}
	return s.Validate()
}

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

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
