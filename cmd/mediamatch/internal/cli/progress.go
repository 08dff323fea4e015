package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress shows how a long transfer goes, on stderr. On a terminal it is
// one line redrawn in place with '\r' (a bar when the total is known, the
// rate and the time left); elsewhere (a pipe, a log file) it is a plain
// line at most every logEvery, so that logs stay readable. It is not safe
// for concurrent use.
type progress struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	label string // "import list.txt"
	unit  string // "bytes" (shown as KiB, MiB...) or "items"
	total int64  // in units; 0 when unknown

	start, last time.Time
	n           int64
	width       int // of the last line drawn on a terminal, to blank it
}

// How often progress is drawn.
const (
	drawEvery = 100 * time.Millisecond // on a terminal
	logEvery  = 2 * time.Second        // elsewhere
	barWidth  = 24
)

func newProgress(w io.Writer, tty bool, now func() time.Time, label, unit string, total int64) *progress {
	t := now()
	return &progress{w: w, tty: tty, now: now, label: label, unit: unit, total: total, start: t, last: t}
}

// update records that n units are done and redraws when it is time.
func (p *progress) update(n int64) {
	p.n = n
	t := p.now()
	every := logEvery
	if p.tty {
		every = drawEvery
	}
	if t.Sub(p.last) < every {
		return
	}
	p.last = t
	p.draw(t, "")
}

// of reports done of total items, for work whose total is known only as
// it goes (a callback's arguments).
func (p *progress) of(done, total int) {
	p.total = int64(total)
	p.update(int64(done))
}

// finish draws the final state with a note ("waiting for the server"),
// ending the terminal line. It draws nothing off a terminal: the summary
// says the rest.
func (p *progress) finish(note string) {
	if !p.tty {
		return
	}
	p.draw(p.now(), note)
	fmt.Fprintln(p.w)
	p.width = 0
}

func (p *progress) draw(t time.Time, note string) {
	elapsed := t.Sub(p.start)
	var b strings.Builder
	b.WriteString(p.label + ": ")
	if p.tty && p.total > 0 {
		done := int(min(barWidth, p.n*barWidth/p.total))
		b.WriteString("[" + strings.Repeat("#", done) + strings.Repeat(".", barWidth-done) + "] ")
	}
	b.WriteString(p.amount(p.n))
	if p.total > 0 {
		fmt.Fprintf(&b, " of %s (%d%%)", p.amount(p.total), p.n*100/p.total)
	}
	if rate := float64(p.n) / elapsed.Seconds(); elapsed > 0 && p.n > 0 {
		b.WriteString(", " + p.amount(int64(rate)) + "/s")
		if p.total > p.n && note == "" {
			b.WriteString(", " + formatETA(time.Duration(float64(p.total-p.n)/rate*float64(time.Second))) + " left")
		}
	}
	if note != "" {
		b.WriteString(", " + note)
	}
	line := b.String()
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := max(0, p.width-len(line))
	fmt.Fprint(p.w, "\r"+line+strings.Repeat(" ", pad))
	p.width = len(line)
}

// amount returns n in the progress's unit: "12.3 MiB", "1500 items".
func (p *progress) amount(n int64) string {
	if p.unit != "bytes" {
		return fmt.Sprintf("%d %s", n, p.unit)
	}
	return formatBytes(n)
}

// formatBytes returns n as "512 B", "1.5 KiB", "12.3 MiB" or "2.0 GiB".
func formatBytes(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return fmt.Sprintf("%d B", n)
	case n < k*k:
		return fmt.Sprintf("%.1f KiB", float64(n)/k)
	case n < k*k*k:
		return fmt.Sprintf("%.1f MiB", float64(n)/(k*k))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
}

// formatETA returns d rounded for people: "8s", "3m20s", "1h05m".
func formatETA(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
