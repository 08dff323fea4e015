package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mediamatch/mediamatch/index/hashlist"
)

// teKind reads a privacy group's threat_updates: a run asks for the
// updates between start_time (where the last run got to) and stop_time
// (now, when the run began) and follows the cursor of each page's
// paging.next to the end. The checkpoint of a page holds the run's
// window, the cursor to the next page (its URL without the access token)
// and the latest last_updated seen, so a crash mid-run resumes at the
// next page of the same run; the last page's starts the next run at that
// latest last_updated (inclusive, so an update made in the same second is
// fetched again rather than lost; a put repeated changes nothing).
type teKind struct{ f *Fetcher }

type teCheckpoint struct {
	checkpointHeader
	Since int64  `json:"since,omitempty"` // start_time of the run, Unix seconds; 0: from the beginning
	Stop  int64  `json:"stop,omitempty"`  // stop_time of the run in progress; 0: none
	Next  string `json:"next,omitempty"`  // the run's next page, access_token removed
	Seen  int64  `json:"seen,omitempty"`  // the latest last_updated of the run so far
}

// teFields are the fields asked of each update: what hashlist's
// te-updates reader keeps.
const teFields = "id,indicator,type,creation_time,last_updated,should_delete,tags"

// teDefaultTypes are the indicator types asked for by default: the ones
// mediamatch stores.
var teDefaultTypes = []string{"HASH_PDQ", "HASH_MD5", "HASH_VIDEO_MD5"}

// tePaging is the envelope of a threat_updates page.
type tePaging struct {
	Paging struct {
		Next string `json:"next"`
	} `json:"paging"`
}

func (k *teKind) next(ctx context.Context, cp Checkpoint) (Page, error) {
	f := k.f
	var c teCheckpoint
	if err := loadCheckpoint(ThreatExchange, cp, &c, &c.checkpointHeader); err != nil {
		return Page{}, err
	}
	if c.Stop == 0 { // a new run
		c.Stop, c.Next, c.Seen = f.opts.Now().Unix(), "", 0
		if c.Since == 0 && !f.cfg.Since.IsZero() {
			c.Since = f.cfg.Since.Unix()
		}
	}
	u, err := k.pageURL(c)
	if err != nil {
		return Page{}, err
	}
	resp, err := f.do(ctx, request{method: http.MethodGet, url: u, classify: teClassify})
	if err != nil {
		return Page{}, err
	}
	op := string(ThreatExchange) + ": GET " + redactURL(u)
	var env tePaging
	if err := f.envelope(op, resp.body, &env); err != nil {
		return Page{}, err
	}
	p, err := f.parse(op, resp.body, hashlist.TEUpdates)
	if err != nil {
		return Page{}, err
	}
	for _, r := range p.records {
		if s := r.Item.Source; s != nil && s.Updated.Unix() > c.Seen {
			c.Seen = s.Updated.Unix()
		}
	}
	if env.Paging.Next != "" {
		next, err := k.cursor(env.Paging.Next)
		if err != nil {
			return Page{}, &Error{Kind: ErrBadPage, Op: op, Reason: err.Error()}
		}
		if next != c.Next { // a cursor that does not move would loop
			c.Next = next
			return p.page(storeCheckpoint(ThreatExchange, &c, &c.checkpointHeader), true), nil
		}
	}
	// The run is done: the next starts where this one got to.
	done := teCheckpoint{Since: max(c.Since, c.Seen)}
	return p.page(storeCheckpoint(ThreatExchange, &done, &done.checkpointHeader), false), nil
}

// pageURL returns the URL of the page c is at, with the access token.
func (k *teKind) pageURL(c teCheckpoint) (*url.URL, error) {
	f := k.f
	var u *url.URL
	if c.Next != "" {
		var err error
		if u, err = url.Parse(c.Next); err != nil {
			return nil, fmt.Errorf("%w: threatexchange next page: %v", ErrCheckpoint, err)
		}
	} else {
		ver := f.cfg.APIVersion
		if ver == "" {
			ver = DefaultTEVersion
		}
		u = f.base.JoinPath(ver, f.cfg.PrivacyGroup, "threat_updates")
		q := url.Values{}
		q.Set("fields", teFields)
		limit := f.cfg.PageSize
		if limit <= 0 {
			limit = 1000
		}
		q.Set("limit", strconv.Itoa(limit))
		if c.Since > 0 {
			q.Set("start_time", strconv.FormatInt(c.Since, 10))
		}
		q.Set("stop_time", strconv.FormatInt(c.Stop, 10))
		types := f.cfg.Types
		if len(types) == 0 {
			types = teDefaultTypes
		}
		q.Set("types", strings.Join(types, ","))
		u.RawQuery = q.Encode()
	}
	q := u.Query()
	q.Set("access_token", f.creds.Token)
	u.RawQuery = q.Encode()
	return u, nil
}

// cursor returns the next page's URL without its access token, after
// checking that it is on the configured host: the token goes only there.
func (k *teKind) cursor(next string) (string, error) {
	u, err := url.Parse(next)
	if err != nil {
		return "", fmt.Errorf("paging.next is not a URL: %v", err)
	}
	if u.Scheme != k.f.base.Scheme || u.Host != k.f.base.Host {
		return "", fmt.Errorf("paging.next on %s://%s, want the base URL's %s://%s", u.Scheme, u.Host,
			k.f.base.Scheme, k.f.base.Host)
	}
	q := u.Query()
	q.Del("access_token")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// teClassify reads a Graph API error: a 400 with an OAuthException of
// code 190 (an invalid or expired token), 10 or 200 (a permission
// missing) refuses the credentials; codes 4, 17, 32 and 613 are rate
// limits, retried with backoff; anything else is refused.
func teClassify(status int, body []byte) error {
	var e struct {
		Error struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ErrRefused
	}
	switch e.Error.Code {
	case 190, 10, 200:
		return ErrAuth
	case 4, 17, 32, 613:
		return errRetry
	}
	return ErrRefused
}
