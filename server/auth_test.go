package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
)

// methods returns the full names of every method registered on the
// server, sorted, with whether each streams.
func (e *authEnv) methods() map[string]bool {
	out := map[string]bool{}
	for svc, info := range e.info {
		for _, m := range info.Methods {
			out["/"+svc+"/"+m.Name] = m.IsClientStream || m.IsServerStream
		}
	}
	return out
}

// TestAccessTableComplete checks that every method of every service
// registered on the server (ours, health, reflection) has an entry in the
// access table, so that a new RPC cannot be left unprotected, and that
// the table names no method that does not exist.
func TestAccessTableComplete(t *testing.T) {
	e := newAuthEnv(t, authConfig{})
	table := accessTable()
	registered := e.methods()
	for m := range registered {
		if _, ok := table[m]; !ok {
			t.Errorf("%s is registered but missing from accessTable: add it with its least role", m)
		}
	}
	for m := range table {
		if _, ok := registered[m]; !ok {
			t.Errorf("accessTable names %s, which is not registered", m)
		}
	}
	if len(registered) < 25 {
		t.Errorf("found %d registered methods, want all of Match, Hash, Bank, Admin, health and reflection", len(registered))
	}
}

// wantRole is the least role for each RPC, written out from the security
// model independently of accessTable: matchers match and hash; moderators
// also read banks and items; curators also change them and move hash
// lists in and out; admins also manage tokens and read the audit log.
// Health checking is open; reflection needs a moderator.
func wantRole(t *testing.T, method string) mediamatch.Role {
	svc, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	switch svc {
	case "grpc.health.v1.Health":
		return ""
	case "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection":
		return mediamatch.RoleModerator
	case "mediamatch.v1.MatchService", "mediamatch.v1.HashService":
		return mediamatch.RoleMatcher
	case "mediamatch.v1.BankService":
		if strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List") {
			return mediamatch.RoleModerator
		}
		return mediamatch.RoleCurator
	case "mediamatch.v1.AdminService":
		return mediamatch.RoleAdmin
	case "mediamatch.v1.ExchangeService":
		if name == "AddExchange" || name == "DeleteExchange" { // they hold credentials
			return mediamatch.RoleAdmin
		}
		return mediamatch.RoleCurator
	}
	t.Fatalf("no expected role for %s: add it to wantRole", method)
	return ""
}

// rawCodec sends and receives message bytes as they are, so that one
// test can call every method with an empty request. It names itself
// "proto", so the server decodes with its protobuf codec.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// callEmpty calls method with an empty request message and returns the
// status code of the outcome (for a stream: of its first response).
func callEmpty(ctx context.Context, conn *grpc.ClientConn, method string, stream bool) codes.Code {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	empty, out := []byte{}, []byte{}
	if !stream {
		return status.Code(conn.Invoke(ctx, method, &empty, &out, grpc.ForceCodec(rawCodec{})))
	}
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return status.Code(err)
	}
	cs.SendMsg(&empty)
	cs.CloseSend()
	return status.Code(cs.RecvMsg(&out))
}

// TestRolesByRPC calls every registered method as every role (and with no
// credentials): an allowed call gets anything but PermissionDenied and
// Unauthenticated (mostly InvalidArgument for the empty request), a
// denied one gets PermissionDenied.
func TestRolesByRPC(t *testing.T) {
	e := newAuthEnv(t, authConfig{})
	conn := e.conn(t, nil)
	secrets := map[mediamatch.Role]string{}
	for _, r := range mediamatch.Roles() {
		secrets[r] = e.token(t, "test-"+string(r), r)
	}
	methods := e.methods()
	names := make([]string, 0, len(methods))
	for m := range methods {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		need := wantRole(t, m)
		for _, r := range append([]mediamatch.Role{""}, mediamatch.Roles()...) {
			who := string(r)
			if r == "" {
				who = "no-credentials"
			}
			t.Run(shortMethod(m)+"/"+who, func(t *testing.T) {
				got := callEmpty(as(t.Context(), secrets[r]), conn, m, methods[m])
				switch {
				case need == "":
					if got == codes.PermissionDenied || got == codes.Unauthenticated {
						t.Errorf("%s as %s: %v, want it open to everyone", m, who, got)
					}
				case r == "":
					if got != codes.Unauthenticated {
						t.Errorf("%s without credentials: %v, want Unauthenticated", m, got)
					}
				case r.Includes(need):
					if got == codes.PermissionDenied || got == codes.Unauthenticated {
						t.Errorf("%s as %s: %v, want it allowed (needs %s)", m, who, got, need)
					}
				default:
					if got != codes.PermissionDenied {
						t.Errorf("%s as %s: %v, want PermissionDenied (needs %s)", m, who, got, need)
					}
				}
			})
		}
	}
}

// TestBadCredentials: missing, malformed, unknown, expired and revoked
// credentials all get Unauthenticated, each with a message saying which,
// and never echoing the secret.
func TestBadCredentials(t *testing.T) {
	e := newAuthEnv(t, authConfig{})
	ctx := t.Context()
	bank := pb.NewBankServiceClient(e.conn(t, nil))
	good := e.token(t, "good", mediamatch.RoleAdmin)

	_, expiring, err := e.ix.CreateToken(ctx, mediamatch.Token{Name: "short-lived", Role: mediamatch.RoleAdmin,
		ExpireTime: e.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	revokedTok, revoked, err := e.ix.CreateToken(ctx, mediamatch.Token{Name: "old", Role: mediamatch.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bank.ListBanks(as(ctx, revoked), &pb.ListBanksRequest{}); err != nil {
		t.Fatalf("ListBanks before revoking: %v", err)
	}
	if _, err := e.ix.RevokeToken(ctx, revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := bank.ListBanks(as(ctx, expiring), &pb.ListBanksRequest{}); err != nil {
		t.Fatalf("ListBanks before expiry: %v", err)
	}
	e.clock.Advance(2 * time.Hour)

	md := func(vals ...string) context.Context {
		var kv []string
		for _, v := range vals {
			kv = append(kv, "authorization", v)
		}
		return metadata.AppendToOutgoingContext(ctx, kv...)
	}
	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"missing", ctx, "missing credentials"},
		{"basic scheme", md("Basic " + good), "malformed"},
		{"no secret", md("Bearer "), "malformed"},
		{"bare secret", md(good), "malformed"},
		{"two values", md("Bearer "+good, "Bearer "+good), "malformed"},
		{"not a token", md("Bearer hunter2"), "not a mediamatch token"},
		{"unknown", md("Bearer mmt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "unknown token"},
		{"expired", as(ctx, expiring), "expired"},
		{"revoked", as(ctx, revoked), "revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bank.ListBanks(tt.ctx, &pb.ListBanksRequest{})
			st := wantStatus(t, err, codes.Unauthenticated, tt.want)
			for _, secret := range []string{good, expiring, revoked, "hunter2"} {
				if strings.Contains(st.Message(), secret) {
					t.Errorf("message %q holds the secret", st.Message())
				}
			}
		})
	}
	if _, err := bank.ListBanks(as(ctx, good), &pb.ListBanksRequest{}); err != nil {
		t.Errorf("ListBanks with a good token: %v", err)
	}
	if strings.Contains(e.logs.String(), good) || strings.Contains(e.logs.String(), revoked) {
		t.Errorf("a secret is in the log:\n%s", e.logs.String())
	}
}

// TestAuthOffWithoutTokens: a server with no token and RequireAuth unset
// (a loopback development server) lets calls through without
// credentials; with RequireAuth it refuses them.
func TestAuthOffWithoutTokens(t *testing.T) {
	ctx := t.Context()
	open := newAuthEnv(t, authConfig{})
	if _, err := pb.NewBankServiceClient(open.conn(t, nil)).CreateBank(ctx,
		&pb.CreateBankRequest{Bank: &pb.Bank{Name: "dev"}}); err != nil {
		t.Errorf("CreateBank without tokens and without RequireAuth: %v, want it allowed", err)
	}
	// The first token turns authentication on.
	open.token(t, "first", mediamatch.RoleAdmin)
	_, err := pb.NewBankServiceClient(open.conn(t, nil)).ListBanks(ctx, &pb.ListBanksRequest{})
	wantStatus(t, err, codes.Unauthenticated, "missing credentials")

	closed := newAuthEnv(t, authConfig{opts: Options{RequireAuth: true}})
	_, err = pb.NewBankServiceClient(closed.conn(t, nil)).ListBanks(ctx, &pb.ListBanksRequest{})
	wantStatus(t, err, codes.Unauthenticated, "missing credentials")
	hc := healthpb.NewHealthClient(closed.conn(t, nil))
	if resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check without credentials = %v, %v; want SERVING", resp, err)
	}
}

// TestTokenOverPlaintextFromRemote: a valid token sent without TLS from a
// peer that is not on loopback is refused, whatever the token; over TLS
// from the same peer it is accepted. The peer's address is made to look
// remote by the listener (remoteListener), since a test host may have no
// other interface to connect from.
func TestTokenOverPlaintextFromRemote(t *testing.T) {
	ctx := t.Context()
	plain := newAuthEnv(t, authConfig{remote: "203.0.113.7:40000"})
	secret := plain.token(t, "ops", mediamatch.RoleAdmin)
	_, err := pb.NewBankServiceClient(plain.conn(t, nil)).ListBanks(as(ctx, secret), &pb.ListBanksRequest{})
	wantStatus(t, err, codes.Unauthenticated, "without TLS", "203.0.113.7")

	secure := newAuthEnv(t, authConfig{remote: "203.0.113.7:40000", pki: newPKI(t, "test CA")})
	secret = secure.token(t, "ops", mediamatch.RoleAdmin)
	if _, err := pb.NewBankServiceClient(secure.conn(t, nil)).ListBanks(as(ctx, secret), &pb.ListBanksRequest{}); err != nil {
		t.Errorf("ListBanks with a token over TLS from a remote peer: %v, want it allowed", err)
	}
}

// TestMutualTLS: a client certificate from the client CA gets the role its
// CN is given; one whose CN has none is Unauthenticated; one from another
// CA (or none at all) fails the handshake, before any call reaches the
// server; a token sent with a certificate decides the role.
func TestMutualTLS(t *testing.T) {
	ctx := t.Context()
	pki := newPKI(t, "partner CA")
	e := newAuthEnv(t, authConfig{pki: pki, clientCA: true, opts: Options{ClientRoles: map[string]mediamatch.Role{
		"curator-bot": mediamatch.RoleCurator, "upload-gw": mediamatch.RoleMatcher}}})

	curator, _, _ := pki.issue(t, "curator-bot", false)
	if _, err := pb.NewBankServiceClient(e.conn(t, &curator)).CreateBank(ctx,
		&pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Errorf("CreateBank with the curator's certificate: %v", err)
	}

	matcher, _, _ := pki.issue(t, "upload-gw", false)
	mconn := e.conn(t, &matcher)
	_, err := pb.NewBankServiceClient(mconn).ListBanks(ctx, &pb.ListBanksRequest{})
	wantStatus(t, err, codes.PermissionDenied, "cert CN=upload-gw", "matcher")
	if _, err := pb.NewMatchServiceClient(mconn).MatchSignals(ctx, &pb.MatchSignalsRequest{
		Media: pdqMedia(t, pdqHex(t, 1)[0])}); err != nil {
		t.Errorf("MatchSignals with the matcher's certificate: %v", err)
	}
	// A token decides over the certificate.
	admin := e.token(t, "ops", mediamatch.RoleAdmin)
	if _, err := pb.NewAdminServiceClient(mconn).ListTokens(as(ctx, admin), &pb.ListTokensRequest{}); err != nil {
		t.Errorf("ListTokens with an admin token and the matcher's certificate: %v", err)
	}

	stranger, _, _ := pki.issue(t, "stranger", false)
	_, err = pb.NewBankServiceClient(e.conn(t, &stranger)).ListBanks(ctx, &pb.ListBanksRequest{})
	wantStatus(t, err, codes.Unauthenticated, `CN="stranger" has no role`)

	other := newPKI(t, "another CA")
	forged, _, _ := other.issue(t, "curator-bot", false)
	before := e.s.Counts()
	for name, cert := range map[string]*tls.Certificate{"wrong CA": &forged, "no certificate": nil} {
		_, err := pb.NewBankServiceClient(e.conn(t, cert)).CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "forged"}})
		if status.Code(err) != codes.Unavailable {
			t.Errorf("CreateBank with %s: %v, want the TLS handshake to fail (Unavailable)", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if after := e.s.Counts(); after["BankService/CreateBank PermissionDenied"] != before["BankService/CreateBank PermissionDenied"] ||
		after["BankService/CreateBank OK"] != before["BankService/CreateBank OK"] ||
		after["BankService/CreateBank Unauthenticated"] != before["BankService/CreateBank Unauthenticated"] {
		t.Errorf("calls counted after failed handshakes: %v -> %v, want none to reach the server", before, after)
	}
	if _, err := e.ix.GetBank(ctx, "forged"); !errors.Is(err, mediamatch.ErrNotFound) {
		t.Errorf("bank made with a forged certificate: %v", err)
	}
}

// TestRateLimit: a caller over its rate gets ResourceExhausted with
// RetryInfo; after that long it may call again; other callers are not
// affected.
func TestRateLimit(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{opts: Options{RateLimit: 1, RateBurst: 2}})
	conn := pb.NewMatchServiceClient(e.conn(t, nil))
	a, b := e.token(t, "a", mediamatch.RoleMatcher), e.token(t, "b", mediamatch.RoleMatcher)
	media := pdqMedia(t, pdqHex(t, 1)[0])
	call := func(secret string) error {
		_, err := conn.MatchSignals(as(ctx, secret), &pb.MatchSignalsRequest{Media: media})
		return err
	}
	for i := range 2 {
		if err := call(a); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	st := wantStatus(t, call(a), codes.ResourceExhausted, "rate limit", "1 calls a second")
	var retry time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri.GetRetryDelay().AsDuration()
		}
	}
	if retry <= 0 || retry > time.Second {
		t.Errorf("RetryInfo delay %v, want 0 < delay <= 1s", retry)
	}
	if err := call(b); err != nil {
		t.Errorf("another token's call: %v, want it unaffected", err)
	}
	e.clock.Advance(retry)
	if err := call(a); err != nil {
		t.Errorf("call after the retry delay: %v", err)
	}
	wantStatus(t, call(a), codes.ResourceExhausted, "rate limit")
}

// TestPanicRecovered: a panic in a handler (injected through the index)
// becomes Internal "internal error", is logged with its stack, and the
// server goes on serving, for unary and streaming calls alike.
func TestPanicRecovered(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{ix: func(ix *index.Index) Index {
		return &faultIndex{Index: ix, getBank: func(context.Context, string) (mediamatch.Bank, error) {
			panic("injected fault")
		}}
	}})
	bank := pb.NewBankServiceClient(e.conn(t, nil))
	_, err := bank.GetBank(ctx, &pb.GetBankRequest{Name: "tve"})
	wantStatus(t, err, codes.Internal, "internal error")
	if _, err := bank.ListBanks(ctx, &pb.ListBanksRequest{}); err != nil {
		t.Errorf("ListBanks after a panic: %v, want the server to serve on", err)
	}
	stream, err := bank.ExportSignals(ctx, &pb.ExportSignalsRequest{Bank: "tve"})
	if err == nil {
		_, err = stream.Recv()
	}
	wantStatus(t, err, codes.Internal, "internal error")
	if _, err := bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "after"}}); err != nil {
		t.Errorf("CreateBank after a panic in a stream: %v", err)
	}
	logs := e.logs.String()
	for _, want := range []string{"panic in handler", "injected fault", "(*bankService).GetBank", "(*bankService).ExportSignals"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if got := e.s.Counts()["BankService/GetBank Internal"]; got != 1 {
		t.Errorf("counted %d GetBank Internal, want 1", got)
	}
}

// TestAuditLog: every call of a curator or admin RPC is recorded with who,
// what, target and outcome (failures and role refusals too); reads by
// moderators and matches are not; only admins read the log, and no secret
// is ever in it.
func TestAuditLog(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{})
	conn := e.conn(t, nil)
	bank, admin := pb.NewBankServiceClient(conn), pb.NewAdminServiceClient(conn)
	cur := e.token(t, "curator-1", mediamatch.RoleCurator)
	mod := e.token(t, "moderator-1", mediamatch.RoleModerator)
	adm := e.token(t, "admin-1", mediamatch.RoleAdmin)
	ccur, cmod, cadm := as(ctx, cur), as(ctx, mod), as(ctx, adm)

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := bank.CreateBank(ccur, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}})
	must("CreateBank", err)
	hashes := pdqHex(t, 3)
	_, err = bank.AddItem(ccur, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "poster-1"},
		Source: &pb.AddItemRequest_Media{Media: pdqMedia(t, hashes[0])}})
	must("AddItem", err)
	_, err = bank.UpdateItem(ccur, &pb.UpdateItemRequest{Item: &pb.Item{Bank: "tve", Id: "poster-1", Disabled: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"disabled"}}})
	must("UpdateItem", err)
	_, err = importList(ccur, bank, &pb.ImportSignalsRequest{Bank: "tve", Partner: "p"}, pdqList(hashes[1:]), 1<<20)
	must("ImportSignals", err)
	_, _, err = exportList(t, ccur, bank, "tve", "")
	must("ExportSignals", err)
	_, err = bank.DeleteItem(ccur, &pb.DeleteItemRequest{Bank: "tve", Id: "nope"})
	wantStatus(t, err, codes.NotFound)
	_, err = bank.ListBanks(cmod, &pb.ListBanksRequest{}) // a read: not audited
	must("ListBanks", err)
	_, err = bank.DeleteBank(cmod, &pb.DeleteBankRequest{Name: "tve"}) // refused: audited
	wantStatus(t, err, codes.PermissionDenied)
	_, err = admin.ListAuditEntries(ccur, &pb.ListAuditEntriesRequest{})
	wantStatus(t, err, codes.PermissionDenied, "needs admin")
	created, err := admin.CreateToken(cadm, &pb.CreateTokenRequest{Name: "gateway", Role: pb.Role_ROLE_MATCHER})
	must("CreateToken", err)

	var entries []*pb.AuditEntry
	for token := ""; ; {
		resp, err := admin.ListAuditEntries(cadm, &pb.ListAuditEntriesRequest{PageSize: 3, PageToken: token})
		must("ListAuditEntries", err)
		entries = append(entries, resp.GetEntries()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	var got []string
	for _, en := range entries {
		line := fmt.Sprintf("%s|%s|%s|%s|%s", en.GetActor(), en.GetRole(), en.GetAction(), en.GetTarget(), en.GetDetail())
		got = append(got, line)
		if en.GetTime() == nil {
			t.Errorf("entry %s has no time", line)
		}
		if strings.Contains(line, created.GetSecret()) || strings.Contains(line, "mmt_") || strings.Contains(line, hashes[0]) {
			t.Errorf("entry %s holds a secret or a hash", line)
		}
	}
	t.Logf("audit log:\n%s", strings.Join(got, "\n"))
	want := []string{
		"(curator-1)|ROLE_CURATOR|BankService/CreateBank|tve|ok",
		"(curator-1)|ROLE_CURATOR|BankService/AddItem|tve/poster-1|ok",
		"(curator-1)|ROLE_CURATOR|BankService/UpdateItem|tve/poster-1|ok disabled=true",
		"(curator-1)|ROLE_CURATOR|BankService/ImportSignals|tve|ok format=pdq added=2",
		"(curator-1)|ROLE_CURATOR|BankService/ExportSignals|tve|ok items=3",
		"(curator-1)|ROLE_CURATOR|BankService/DeleteItem|tve/nope|NotFound: ",
		"(moderator-1)|ROLE_MODERATOR|BankService/DeleteBank|tve|PermissionDenied: ",
		"(curator-1)|ROLE_CURATOR|AdminService/ListAuditEntries||PermissionDenied: ",
		"(admin-1)|ROLE_ADMIN|AdminService/CreateToken|name gateway|ok id=" + created.GetToken().GetId() + " role=matcher",
	}
	if len(got) < len(want) {
		t.Fatalf("%d audit entries, want at least %d", len(got), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], "tok_") || !strings.Contains(got[i], w) {
			t.Errorf("audit entry %d = %s, want one containing %s", i, got[i], w)
		}
	}
	// The admin's own reads of the log come after, and nothing else.
	for _, g := range got[len(want):] {
		if !strings.Contains(g, "AdminService/ListAuditEntries") {
			t.Errorf("unexpected audit entry %s", g)
		}
	}
}

// TestBankScope: a token limited to banks cannot name others (not even
// ones that do not exist), lists and matches only its own, and cannot
// create a token for more banks than it has.
func TestBankScope(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{})
	conn := e.conn(t, nil)
	bank, match, admin := pb.NewBankServiceClient(conn), pb.NewMatchServiceClient(conn), pb.NewAdminServiceClient(conn)
	root := as(ctx, e.token(t, "root", mediamatch.RoleAdmin))
	h := pdqHex(t, 1)[0]
	for _, b := range []string{"a", "b"} {
		if _, err := bank.CreateBank(root, &pb.CreateBankRequest{Bank: &pb.Bank{Name: b}}); err != nil {
			t.Fatal(err)
		}
		if _, err := bank.AddItem(root, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: b, Id: "same"},
			Source: &pb.AddItemRequest_Media{Media: pdqMedia(t, h)}}); err != nil {
			t.Fatal(err)
		}
	}
	if resp, err := match.MatchSignals(root, &pb.MatchSignalsRequest{Media: pdqMedia(t, h)}); err != nil || len(resp.GetMatches()) != 2 {
		t.Fatalf("MatchSignals unlimited = %v, %v; want both banks", matchIDs(resp.GetMatches()), err)
	}

	scoped := as(ctx, e.token(t, "partner-a", mediamatch.RoleAdmin, "a"))
	resp, err := match.MatchSignals(scoped, &pb.MatchSignalsRequest{Media: pdqMedia(t, h)})
	if err != nil || !slices.Equal(matchIDs(resp.GetMatches()), []string{"a/same"}) {
		t.Errorf("MatchSignals limited to a = %v, %v; want a/same only", matchIDs(resp.GetMatches()), err)
	}
	lb, err := bank.ListBanks(scoped, &pb.ListBanksRequest{})
	if err != nil || len(lb.GetBanks()) != 1 || lb.GetBanks()[0].GetName() != "a" {
		t.Errorf("ListBanks limited to a = %v, %v; want a only", lb.GetBanks(), err)
	}
	denied := map[string]func() error{
		"MatchSignals b": func() error {
			_, err := match.MatchSignals(scoped, &pb.MatchSignalsRequest{Media: pdqMedia(t, h), Options: &pb.MatchOptions{Banks: []string{"a", "b"}}})
			return err
		},
		"GetBank b": func() error { _, err := bank.GetBank(scoped, &pb.GetBankRequest{Name: "b"}); return err },
		"GetBank absent": func() error {
			_, err := bank.GetBank(scoped, &pb.GetBankRequest{Name: "absent"})
			return err
		},
		"ListItems b":  func() error { _, err := bank.ListItems(scoped, &pb.ListItemsRequest{Bank: "b"}); return err },
		"GetItem b":    func() error { _, err := bank.GetItem(scoped, &pb.GetItemRequest{Bank: "b", Id: "same"}); return err },
		"DeleteBank b": func() error { _, err := bank.DeleteBank(scoped, &pb.DeleteBankRequest{Name: "b"}); return err },
		"CreateBank c": func() error {
			_, err := bank.CreateBank(scoped, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "c"}})
			return err
		},
		"AddItem b": func() error {
			_, err := bank.AddItem(scoped, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "b", Id: "x"},
				Source: &pb.AddItemRequest_Media{Media: pdqMedia(t, h)}})
			return err
		},
		"ExportSignals b": func() error { _, _, err := exportList(t, scoped, bank, "b", ""); return err },
		"ImportSignals b": func() error {
			_, err := importList(scoped, bank, &pb.ImportSignalsRequest{Bank: "b"}, pdqList(pdqHex(t, 1)), 1<<20)
			return err
		},
		"CreateToken every bank": func() error {
			_, err := admin.CreateToken(scoped, &pb.CreateTokenRequest{Name: "x", Role: pb.Role_ROLE_MATCHER})
			return err
		},
		"CreateToken b": func() error {
			_, err := admin.CreateToken(scoped, &pb.CreateTokenRequest{Name: "x", Role: pb.Role_ROLE_MATCHER, Banks: []string{"b"}})
			return err
		},
	}
	for name, fn := range denied {
		t.Run(name, func(t *testing.T) { wantStatus(t, fn(), codes.PermissionDenied, "partner-a") })
	}
	if _, err := admin.CreateToken(scoped, &pb.CreateTokenRequest{Name: "a-gw", Role: pb.Role_ROLE_MATCHER, Banks: []string{"a"}}); err != nil {
		t.Errorf("CreateToken for bank a by a token limited to a: %v", err)
	}

	// A token whose banks are all gone matches nothing (not every bank).
	gone := as(ctx, e.token(t, "gone", mediamatch.RoleMatcher, "deleted-bank"))
	if resp, err := match.MatchSignals(gone, &pb.MatchSignalsRequest{Media: pdqMedia(t, h)}); err != nil || len(resp.GetMatches()) != 0 {
		t.Errorf("MatchSignals by a token of a missing bank = %v, %v; want no matches", matchIDs(resp.GetMatches()), err)
	}
}

// TestDeadlines: a call without a deadline gets Options.CallTimeout; a
// longer one is capped at Options.MaxCallTimeout.
func TestDeadlines(t *testing.T) {
	ctx := t.Context()
	got := make(chan time.Duration, 1)
	e := newAuthEnv(t, authConfig{opts: Options{CallTimeout: 3 * time.Minute, MaxCallTimeout: 7 * time.Minute},
		ix: func(ix *index.Index) Index {
			return &faultIndex{Index: ix, getBank: func(ctx context.Context, name string) (mediamatch.Bank, error) {
				d, ok := ctx.Deadline()
				if !ok {
					got <- -1
				} else {
					got <- time.Until(d)
				}
				return ix.GetBank(ctx, name)
			}}
		}})
	bank := pb.NewBankServiceClient(e.conn(t, nil))
	tests := []struct {
		name     string
		timeout  time.Duration // 0: none
		min, max time.Duration
	}{
		{"none", 0, 2 * time.Minute, 3 * time.Minute},
		{"longer than the cap", 10 * time.Hour, 6 * time.Minute, 7 * time.Minute},
		{"shorter", time.Minute, 50 * time.Second, time.Minute},
	}
	for _, tt := range tests {
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if tt.timeout > 0 {
			cctx, cancel = context.WithTimeout(ctx, tt.timeout)
		}
		bank.GetBank(cctx, &pb.GetBankRequest{Name: "tve"})
		cancel()
		if d := <-got; d < tt.min || d > tt.max {
			t.Errorf("%s: handler's deadline in %v, want %v..%v", tt.name, d, tt.min, tt.max)
		}
	}
}

// TestUploadSlots: with MaxUploads 1, an upload waits while another holds
// the slot (here until its deadline), and runs once the slot is free. A
// stream still sending holds no slot: it takes one when its last chunk has
// come.
func TestUploadSlots(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{opts: Options{MaxUploads: 1}})
	conn := e.conn(t, nil)
	match, hash := pb.NewMatchServiceClient(conn), pb.NewHashServiceClient(conn)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := match.MatchMediaStream(sctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.MatchMediaStreamRequest{Chunk: []byte("part of a file")}); err != nil {
		t.Fatal(err)
	}
	_, err = hash.HashMedia(ctx, &pb.HashMediaRequest{Content: []byte("not an image")})
	wantStatus(t, err, codes.InvalidArgument) // it ran beside the stream still sending
	if n := e.s.uploads.inUse(); n != 0 {
		t.Errorf("%d slots held while the only stream is still sending, want 0", n)
	}
	cancel()

	if err := e.s.uploads.take(ctx, "holder"); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = hash.HashMedia(wctx, &pb.HashMediaRequest{Content: []byte("x")})
	wcancel()
	wantStatus(t, err, codes.DeadlineExceeded)

	e.s.uploads.release("holder")
	_, err = hash.HashMedia(ctx, &pb.HashMediaRequest{Content: []byte("not an image")})
	wantStatus(t, err, codes.InvalidArgument) // it ran: the content is no image
	if n := e.s.uploads.inUse(); n != 0 {
		t.Errorf("%d slots held after every upload ended, want 0", n)
	}
}

// TestAdminService: tokens made, listed and revoked over the API.
func TestAdminService(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{})
	admin := pb.NewAdminServiceClient(e.conn(t, nil))
	root := as(ctx, e.token(t, "root", mediamatch.RoleAdmin))

	_, err := admin.CreateToken(root, &pb.CreateTokenRequest{Role: pb.Role_ROLE_ADMIN})
	wantStatus(t, err, codes.InvalidArgument, "CreateTokenRequest.name")
	_, err = admin.CreateToken(root, &pb.CreateTokenRequest{Name: "x"})
	wantStatus(t, err, codes.InvalidArgument, "CreateTokenRequest.role", "ROLE_MATCHER")
	_, err = admin.CreateToken(root, &pb.CreateTokenRequest{Name: "x", Role: pb.Role_ROLE_MATCHER, Banks: []string{"Bad Name"}})
	wantStatus(t, err, codes.InvalidArgument, "CreateTokenRequest.banks[0]")
	_, err = admin.CreateToken(root, &pb.CreateTokenRequest{Name: "x", Role: pb.Role_ROLE_MATCHER,
		ExpireTime: timestamppb.New(e.clock.Now().Add(-time.Hour))})
	wantStatus(t, err, codes.InvalidArgument, "CreateTokenRequest.expire_time", "in the future")

	resp, err := admin.CreateToken(root, &pb.CreateTokenRequest{Name: "gateway", Role: pb.Role_ROLE_MATCHER,
		Banks: []string{"tve"}, ExpireTime: timestamppb.New(e.clock.Now().Add(24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	tok := resp.GetToken()
	if !strings.HasPrefix(resp.GetSecret(), "mmt_") || !strings.HasPrefix(tok.GetId(), "tok_") || tok.GetRole() != pb.Role_ROLE_MATCHER ||
		!slices.Equal(tok.GetBanks(), []string{"tve"}) || tok.GetExpireTime() == nil {
		t.Errorf("CreateToken = %v", resp)
	}
	gw := as(ctx, resp.GetSecret())
	if _, err := pb.NewMatchServiceClient(e.conn(t, nil)).MatchSignals(gw, &pb.MatchSignalsRequest{Media: pdqMedia(t, pdqHex(t, 1)[0])}); err != nil {
		t.Errorf("MatchSignals with the new token: %v", err)
	}
	list, err := admin.ListTokens(root, &pb.ListTokensRequest{})
	if err != nil || len(list.GetTokens()) != 2 || !slices.ContainsFunc(list.GetTokens(), func(x *pb.Token) bool { return x.GetId() == tok.GetId() }) {
		t.Errorf("ListTokens = %v, %v; want root and gateway", list, err)
	}
	rev, err := admin.RevokeToken(root, &pb.RevokeTokenRequest{Id: tok.GetId()})
	if err != nil || rev.GetToken().GetRevokeTime() == nil {
		t.Errorf("RevokeToken = %v, %v", rev, err)
	}
	_, err = pb.NewMatchServiceClient(e.conn(t, nil)).MatchSignals(gw, &pb.MatchSignalsRequest{Media: pdqMedia(t, pdqHex(t, 1)[0])})
	wantStatus(t, err, codes.Unauthenticated, "revoked")
	_, err = admin.RevokeToken(root, &pb.RevokeTokenRequest{Id: "tok_0000000000000000"})
	wantStatus(t, err, codes.NotFound)
	_, err = admin.RevokeToken(root, &pb.RevokeTokenRequest{})
	wantStatus(t, err, codes.InvalidArgument, "RevokeTokenRequest.id")
}
