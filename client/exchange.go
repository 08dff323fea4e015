package client

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// ExchangeSpec describes a partner exchange to add.
type ExchangeSpec struct {
	Name    string // 1..64 of [a-z0-9_.-]
	Bank    string // an existing bank
	Kind    string // "url", "threatexchange", "tcap", "stopncii" or "ncmec"
	BaseURL string // empty: the kind's public endpoint (required for url)
	// Interval is the time between fetches; zero: the server's default.
	Interval time.Duration
	// Settings are the kind's settings: privacy_group, api_version, types,
	// ideology, format, page_size, partner, since.
	Settings map[string]string
	// CredentialsSecret is the credentials themselves (a credentials
	// file's content): the server stores them in a file of mode 0600
	// under its data dir. CredentialsEnv instead names an environment
	// variable of the server's that holds them. At most one.
	CredentialsSecret string
	CredentialsEnv    string
}

// Exchange is an exchange as the server reports it; never a credential.
type Exchange struct {
	Name        string            `json:"name"`
	Bank        string            `json:"bank"`
	Kind        string            `json:"kind"`
	BaseURL     string            `json:"base_url,omitempty"`
	Interval    time.Duration     `json:"interval_ns"`
	Settings    map[string]string `json:"settings,omitempty"`
	Credentials string            `json:"credentials"` // "file", "env:NAME" or "none"
	Paused      bool              `json:"paused"`
	CreateTime  time.Time         `json:"create_time"`
	Status      ExchangeStatus    `json:"status"`
}

// ExchangeStatus is how an exchange's fetches went.
type ExchangeStatus struct {
	LastAttempt     time.Time              `json:"last_attempt_time,omitzero"`
	LastSuccess     time.Time              `json:"last_success_time,omitzero"`
	LastError       string                 `json:"last_error,omitempty"`
	AuthFailed      bool                   `json:"auth_failed"`
	Total           mediamatch.ImportStats `json:"total"`
	LastRun         mediamatch.ImportStats `json:"last_run"`
	LastRunPages    int                    `json:"last_run_pages"`
	LastRunRejected int64                  `json:"last_run_rejected"`
	Checkpoint      string                 `json:"checkpoint,omitempty"` // ExchangeStatus only
	Lag             time.Duration          `json:"lag_ns,omitempty"`     // since the last success; 0 if none
	Running         bool                   `json:"running"`
}

// FetchSummary is what FetchExchange's run did.
type FetchSummary struct {
	Pages    int                    `json:"pages"`
	Counts   mediamatch.ImportStats `json:"counts"`
	Rejected int64                  `json:"rejected"`
	// Error is why the run stopped before it caught up; empty if it did.
	Error    string   `json:"error,omitempty"`
	Exchange Exchange `json:"exchange"`
}

func exchangeFromProto(e *pb.Exchange) Exchange {
	st := e.GetStatus()
	out := Exchange{Name: e.GetName(), Bank: e.GetBank(), Kind: e.GetKind(), BaseURL: e.GetBaseUrl(),
		Interval: e.GetInterval().AsDuration(), Settings: e.GetSettings(), Credentials: e.GetCredentials(),
		Paused: e.GetPaused(),
		Status: ExchangeStatus{LastError: st.GetLastError(), AuthFailed: st.GetAuthFailed(),
			Total: countsFromProto(st.GetTotal()), LastRun: countsFromProto(st.GetLastRun()),
			LastRunPages: int(st.GetLastRunPages()), LastRunRejected: st.GetLastRunRejected(),
			Checkpoint: st.GetCheckpoint(), Running: st.GetRunning()}}
	if t := e.GetCreateTime(); t != nil {
		out.CreateTime = t.AsTime()
	}
	if t := st.GetLastAttemptTime(); t != nil {
		out.Status.LastAttempt = t.AsTime()
	}
	if t := st.GetLastSuccessTime(); t != nil {
		out.Status.LastSuccess = t.AsTime()
	}
	if d := st.GetLag(); d != nil {
		out.Status.Lag = d.AsDuration()
	}
	return out
}

func countsFromProto(c *pb.ExchangeCounts) mediamatch.ImportStats {
	return mediamatch.ImportStats{Added: c.GetAdded(), Updated: c.GetUpdated(), Deleted: c.GetDeleted(), Unchanged: c.GetUnchanged()}
}

// AddExchange adds an exchange. Needs the admin role
// (ErrPermissionDenied otherwise); ErrInvalidArgument for a bad spec or
// credentials the kind needs and lacks, ErrNotFound for a missing bank,
// ErrAlreadyExists for a name taken.
func (c *Client) AddExchange(ctx context.Context, spec ExchangeSpec) (Exchange, error) {
	req := &pb.AddExchangeRequest{Name: spec.Name, Bank: spec.Bank, Kind: spec.Kind, BaseUrl: spec.BaseURL,
		Settings: spec.Settings, CredentialsSecret: spec.CredentialsSecret, CredentialsEnv: spec.CredentialsEnv}
	if spec.Interval != 0 {
		req.Interval = durationpb.New(spec.Interval)
	}
	resp, err := c.xchg.AddExchange(ctx, req)
	if err != nil {
		return Exchange{}, fromRPC(err)
	}
	return exchangeFromProto(resp.GetExchange()), nil
}

// ListExchanges returns every exchange the caller may see, by name.
func (c *Client) ListExchanges(ctx context.Context) ([]Exchange, error) {
	resp, err := c.xchg.ListExchanges(ctx, &pb.ListExchangesRequest{})
	if err != nil {
		return nil, fromRPC(err)
	}
	out := make([]Exchange, len(resp.GetExchanges()))
	for i, e := range resp.GetExchanges() {
		out[i] = exchangeFromProto(e)
	}
	return out, nil
}

// ExchangeStatus returns an exchange with its status and checkpoint.
// ErrNotFound if there is none of that name.
func (c *Client) ExchangeStatus(ctx context.Context, name string) (Exchange, error) {
	resp, err := c.xchg.GetExchangeStatus(ctx, &pb.GetExchangeStatusRequest{Name: name})
	if err != nil {
		return Exchange{}, fromRPC(err)
	}
	return exchangeFromProto(resp.GetExchange()), nil
}

// FetchExchange fetches an exchange now and waits for the run's end. A
// failed run is no error: its summary says why (Error).
func (c *Client) FetchExchange(ctx context.Context, name string) (FetchSummary, error) {
	resp, err := c.xchg.FetchExchange(ctx, &pb.FetchExchangeRequest{Name: name})
	if err != nil {
		return FetchSummary{}, fromRPC(err)
	}
	return FetchSummary{Pages: int(resp.GetPages()), Counts: countsFromProto(resp.GetCounts()), Rejected: resp.GetRejected(),
		Error: resp.GetError(), Exchange: exchangeFromProto(resp.GetExchange())}, nil
}

// PauseExchange stops the scheduled fetches of an exchange.
func (c *Client) PauseExchange(ctx context.Context, name string) (Exchange, error) {
	resp, err := c.xchg.PauseExchange(ctx, &pb.PauseExchangeRequest{Name: name})
	if err != nil {
		return Exchange{}, fromRPC(err)
	}
	return exchangeFromProto(resp.GetExchange()), nil
}

// ResumeExchange restarts the scheduled fetches of a paused exchange, or
// of one stopped by refused credentials.
func (c *Client) ResumeExchange(ctx context.Context, name string) (Exchange, error) {
	resp, err := c.xchg.ResumeExchange(ctx, &pb.ResumeExchangeRequest{Name: name})
	if err != nil {
		return Exchange{}, fromRPC(err)
	}
	return exchangeFromProto(resp.GetExchange()), nil
}

// DeleteExchange deletes an exchange and its stored credentials; its bank
// stays. Needs the admin role.
func (c *Client) DeleteExchange(ctx context.Context, name string) error {
	_, err := c.xchg.DeleteExchange(ctx, &pb.DeleteExchangeRequest{Name: name})
	return fromRPC(err)
}
