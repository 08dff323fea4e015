package exchange

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mediamatch/mediamatch/index/hashlist"
)

// ncmecKind reads NCMEC's hash-sharing API (v2/entries): a run asks for
// the entries changed between from (where the last run got to) and to
// (now, when the run began), and follows each page's <paging><next> link
// to the end; <deletedImage> and <deletedVideo> retract. NCMEC does not
// return entries in time order, so nothing short of the whole run says how
// far it got: the checkpoint holds the run's window and the next link,
// and only the run's last page moves from to the run's to.
type ncmecKind struct{ f *Fetcher }

type ncmecCheckpoint struct {
	checkpointHeader
	From int64  `json:"from,omitempty"` // Unix seconds
	To   int64  `json:"to,omitempty"`   // of the run in progress; 0: none
	Next string `json:"next,omitempty"` // the run's next link, relative to the base URL
}

// ncmecOverlap is how far before the end of a run the next one starts.
const ncmecOverlap = 5 * time.Minute

// ncmecTime is the form of from and to.
const ncmecTime = "2006-01-02T15:04:05.000Z"

type ncmecEnvelope struct {
	Paging struct {
		Next string `xml:"next"`
	} `xml:"paging"`
}

func (k *ncmecKind) next(ctx context.Context, cp Checkpoint) (Page, error) {
	f := k.f
	var c ncmecCheckpoint
	if err := loadCheckpoint(NCMEC, cp, &c, &c.checkpointHeader); err != nil {
		return Page{}, err
	}
	if c.To == 0 {
		c.To, c.Next = f.opts.Now().Unix(), ""
		if c.From == 0 && !f.cfg.Since.IsZero() {
			c.From = f.cfg.Since.Unix()
		}
	}
	var u *url.URL
	if c.Next != "" {
		var err error
		if u, err = k.resolve(c.Next); err != nil {
			return Page{}, fmt.Errorf("%w: ncmec next link: %v", ErrCheckpoint, err)
		}
	} else {
		u = f.base.JoinPath("v2", "entries")
		u.RawQuery = url.Values{
			"from": {time.Unix(c.From, 0).UTC().Format(ncmecTime)},
			"to":   {time.Unix(c.To, 0).UTC().Format(ncmecTime)},
		}.Encode()
	}
	resp, err := f.do(ctx, request{method: http.MethodGet, url: u,
		basicUser: f.creds.Username, basicPass: f.creds.Password})
	if err != nil {
		return Page{}, err
	}
	op := string(NCMEC) + ": GET " + redactURL(u)
	var env ncmecEnvelope
	if err := xml.Unmarshal(resp.body, &env); err != nil {
		return Page{}, &Error{Kind: ErrBadPage, Op: op, Reason: f.red.clean("not NCMEC's XML: " + err.Error())}
	}
	p, err := f.parse(op, resp.body, hashlist.NCMEC)
	if err != nil {
		return Page{}, err
	}
	if next := strings.TrimSpace(env.Paging.Next); next != "" && next != c.Next {
		if _, err := k.resolve(next); err != nil {
			return Page{}, &Error{Kind: ErrBadPage, Op: op, Reason: f.red.clean(err.Error())}
		}
		c.Next = next
		return p.page(storeCheckpoint(NCMEC, &c, &c.checkpointHeader), true), nil
	}
	// The next run starts a little before this one's end: to is our
	// clock, and entries NCMEC dated up to a clock skew before it may
	// have been made after this run's first request. Entries fetched
	// twice are put twice, which changes nothing.
	done := ncmecCheckpoint{From: max(c.From, c.To-int64(ncmecOverlap/time.Second))}
	return p.page(storeCheckpoint(NCMEC, &done, &done.checkpointHeader), false), nil
}

// resolve returns the URL of a next link: a path and query under the
// base URL ("/v2/entries?from=...&start=2001..."). A link to another
// host is refused, as the credentials go with the request.
func (k *ncmecKind) resolve(next string) (*url.URL, error) {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return nil, fmt.Errorf("next link %q, want a path under the base URL", next)
	}
	return url.Parse(strings.TrimSuffix(k.f.base.String(), "/") + next)
}
