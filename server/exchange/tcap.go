package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/mediamatch/mediamatch/index/hashlist"
)

// tcapKind reads TCAP's hash list (api/hash-list/v2/<ideology>) in
// ascending order of update: each page's "checkpoint" ("<time>,<id>" of
// its last entry) is the "after" of the next request, and a page without
// "next" is the last for now. Our checkpoint is TCAP's, so a crash
// resumes after the last stored page, and a finished pull resumes after
// the last entry: new and changed entries (deleted: true retracts) come
// after it.
//
// Authentication: a token from Credentials.Token, or one obtained by
// posting Username and Password to token-auth/tcap/ (a JWT that expires:
// on a 401 it is obtained again, once, before ErrAuth).
type tcapKind struct{ f *Fetcher }

type tcapCheckpoint struct {
	checkpointHeader
	After string `json:"after,omitempty"` // TCAP's checkpoint of the last page stored
}

// tcapEnvelope is the part of a TCAP page other than its results.
type tcapEnvelope struct {
	Next       *string `json:"next"`
	Checkpoint string  `json:"checkpoint"`
}

func (k *tcapKind) next(ctx context.Context, cp Checkpoint) (Page, error) {
	f := k.f
	var c tcapCheckpoint
	if err := loadCheckpoint(TCAP, cp, &c, &c.checkpointHeader); err != nil {
		return Page{}, err
	}
	ideology := f.cfg.Ideology
	if ideology == "" {
		ideology = "all"
	}
	u := f.base.JoinPath("api", "hash-list", "v2", ideology)
	q := url.Values{"order": {"asc"}}
	if c.After != "" {
		q.Set("after", c.After)
	}
	u.RawQuery = q.Encode()
	resp, err := k.get(ctx, u)
	if err != nil {
		return Page{}, err
	}
	op := string(TCAP) + ": GET " + redactURL(u)
	var env tcapEnvelope
	if err := f.envelope(op, resp.body, &env); err != nil {
		return Page{}, err
	}
	p, err := f.parse(op, resp.body, hashlist.TCAP)
	if err != nil {
		return Page{}, err
	}
	prev := c.After
	if env.Checkpoint != "" {
		c.After = env.Checkpoint
	} else if len(p.records) > 0 || p.rejected > 0 {
		// Entries without a checkpoint to resume after them: storing the
		// old one would fetch them again forever.
		return Page{}, &Error{Kind: ErrBadPage, Op: op, Reason: "a page of entries without a checkpoint"}
	}
	// A checkpoint that does not move would fetch the same page forever.
	more := env.Next != nil && *env.Next != "" && c.After != prev
	return p.page(storeCheckpoint(TCAP, &c, &c.checkpointHeader), more), nil
}

// get fetches u with the bearer token, obtaining it first if need be.
func (k *tcapKind) get(ctx context.Context, u *url.URL) (*response, error) {
	f := k.f
	for try := 0; ; try++ {
		token, err := k.token(ctx, try > 0)
		if err != nil {
			return nil, err
		}
		resp, err := f.do(ctx, request{method: http.MethodGet, url: u,
			header: http.Header{"Authorization": {"Bearer " + token}}})
		var e *Error
		if try == 0 && f.creds.Token == "" && errors.As(err, &e) && e.Status == http.StatusUnauthorized {
			continue // the JWT expired: obtain another, once
		}
		return resp, err
	}
}

// token returns the bearer token: Credentials.Token, or the JWT obtained
// with Username and Password (again if renew).
func (k *tcapKind) token(ctx context.Context, renew bool) (string, error) {
	f := k.f
	if f.creds.Token != "" {
		return f.creds.Token, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tcapAuth != "" && !renew {
		return f.tcapAuth, nil
	}
	u := f.base.JoinPath("token-auth", "tcap") // the API's path ends with a slash
	u.Path += "/"
	resp, err := f.do(ctx, request{method: http.MethodPost, url: u,
		form: url.Values{"username": {f.creds.Username}, "password": {f.creds.Password}, "resend": {"false"}}})
	if err != nil {
		return "", err
	}
	var t struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(resp.body, &t); err != nil || t.Token == "" {
		return "", &Error{Kind: ErrAuth, Op: string(TCAP) + ": POST " + redactURL(u), Status: resp.status,
			Reason: "the response holds no token"}
	}
	f.red.add(t.Token)
	f.tcapAuth = t.Token
	return t.Token, nil
}
