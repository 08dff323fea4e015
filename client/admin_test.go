package client_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mediamatch/mediamatch/client"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/server"
)

// guarded starts a real server with the guard (server.ServerOptions) on
// loopback TCP, with a rate limit of 1 call a second in bursts of 5, and
// an admin token; it returns the address and the token's secret.
func guarded(t *testing.T) (string, string) {
	t.Helper()
	ix, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	_, secret, err := ix.CreateToken(t.Context(), mediamatch.Token{Name: "root", Role: mediamatch.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	s := server.New(ix, fingerprint.New(fingerprint.Options{}), server.Options{RateLimit: 1, RateBurst: 5})
	gs := grpc.NewServer(s.ServerOptions()...)
	s.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String(), secret
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *client.Client {
	t.Helper()
	conn, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return client.New(conn)
}

func TestAdminAndCredentials(t *testing.T) {
	ctx := t.Context()
	addr, secret := guarded(t)

	if _, err := dial(t, addr).ListTokens(ctx); !errors.Is(err, client.ErrUnauthenticated) {
		t.Errorf("ListTokens without a token = %v, want ErrUnauthenticated", err)
	}
	// Without allowPlaintext the token is never sent over plaintext.
	_, err := dial(t, addr, grpc.WithPerRPCCredentials(client.TokenCredentials(secret, false))).ListTokens(ctx)
	if err == nil || !strings.Contains(err.Error(), "refusing to send a token without TLS") {
		t.Errorf("ListTokens with a token over plaintext = %v, want the client to refuse", err)
	}

	c := dial(t, addr, grpc.WithPerRPCCredentials(client.TokenCredentials(secret, true)))
	tok, gw, err := c.CreateToken(ctx, client.TokenSpec{Name: "gw", Role: mediamatch.RoleMatcher, Banks: []string{"tve"},
		ExpireTime: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Role != mediamatch.RoleMatcher || tok.ExpireTime.IsZero() || !strings.HasPrefix(gw, "mmt_") {
		t.Errorf("CreateToken = %+v, %q", tok, gw)
	}
	matcher := dial(t, addr, grpc.WithPerRPCCredentials(client.TokenCredentials(gw, true)))
	for _, err := range matcher.ListBanks(ctx) {
		if !errors.Is(err, client.ErrPermissionDenied) {
			t.Errorf("ListBanks as a matcher = %v, want ErrPermissionDenied", err)
		}
	}
	toks, err := c.ListTokens(ctx)
	if err != nil || len(toks) != 2 || (toks[0].ID != tok.ID && toks[1].ID != tok.ID) {
		t.Errorf("ListTokens = %+v, %v", toks, err)
	}
	if r, err := c.RevokeToken(ctx, tok.ID); err != nil || r.RevokeTime.IsZero() {
		t.Errorf("RevokeToken = %+v, %v", r, err)
	}
	var actions []string
	for e, err := range c.ListAudit(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		actions = append(actions, e.Action)
	}
	if len(actions) < 2 || actions[0] != "AdminService/CreateToken" || actions[1] != "AdminService/ListTokens" {
		t.Errorf("audit actions %v, want CreateToken, ListTokens, ...", actions)
	}

	// Over the rate: ErrResourceExhausted with the server's retry delay.
	var ce *client.Error
	for range 10 {
		if _, err = c.ListTokens(ctx); err != nil {
			break
		}
	}
	if !errors.Is(err, client.ErrResourceExhausted) || !errors.As(err, &ce) || ce.RetryDelay <= 0 {
		t.Errorf("calls over the rate limit: %v, want ErrResourceExhausted with a RetryDelay", err)
	}
}
