package server

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// Authentication and authorisation. The guard's interceptors (guard.go)
// call authenticate and authorize for every call and put the caller in
// the call's context; handlers consult its bank scope through allowBank,
// matchBanks and callerBanks only.
//
// When authentication is required: when Options.RequireAuth is set (Run:
// TLS is configured, or Config.Auth, which `serve` sets unless --dev), or
// as soon as the index holds a token. Otherwise (a loopback server without
// tokens, for development) calls without credentials are let through as
// "anonymous" with every right. Health checking never needs credentials.
//
// The loopback exemptions (no authentication on a development server, and
// tokens accepted over plaintext from loopback) trust every process on the
// host, and so anything on it that relays connections: a reverse proxy, an
// SSH tunnel, a container port mapping makes a remote caller look local.
// Serve with authentication (the default) wherever such a relay may exist.
//
// Failed authentications are logged with the peer's address, the method
// and the reason (never the secret), and limited per peer IP address
// (Options.AuthFailureRate): past the limit a peer's failures are refused
// with ResourceExhausted and not logged; valid credentials from the
// same address still pass.

// access is what one RPC requires.
type access struct {
	role   mediamatch.Role // the least role that may call it; "" means open to all (health checking)
	upload bool            // it hashes an upload, or matches a client's many signals: holds a slot of Options.MaxUploads while it works
}

// audited reports whether calls of the RPC go to the audit log: those of
// curator and admin RPCs, whatever their outcome.
func (a access) audited() bool { return a.role != "" && a.role.Includes(mediamatch.RoleCurator) }

// accessTable returns the one table of what each RPC requires, by full
// method name. A method missing from it is refused with PermissionDenied,
// and TestAccessTableComplete fails if a registered method is missing.
func accessTable() map[string]access {
	const (
		matcher   = mediamatch.RoleMatcher
		moderator = mediamatch.RoleModerator
		curator   = mediamatch.RoleCurator
		admin     = mediamatch.RoleAdmin
	)
	return map[string]access{
		// The upload path: match and hash. Nothing here reveals a bank's content.
		pb.MatchService_MatchMedia_FullMethodName:       {role: matcher, upload: true},
		pb.MatchService_MatchMediaStream_FullMethodName: {role: matcher, upload: true},
		pb.MatchService_MatchSignals_FullMethodName:     {role: matcher, upload: true}, // its search holds up to the hit budget
		pb.HashService_HashMedia_FullMethodName:         {role: matcher, upload: true},
		pb.HashService_HashMediaStream_FullMethodName:   {role: matcher, upload: true},

		// Reading banks, items, their labels and signals.
		pb.BankService_GetBank_FullMethodName:   {role: moderator},
		pb.BankService_ListBanks_FullMethodName: {role: moderator},
		pb.BankService_GetItem_FullMethodName:   {role: moderator},
		pb.BankService_ListItems_FullMethodName: {role: moderator},

		// Changing banks and items; hash lists in and out.
		pb.BankService_CreateBank_FullMethodName:    {role: curator},
		pb.BankService_DeleteBank_FullMethodName:    {role: curator},
		pb.BankService_AddItem_FullMethodName:       {role: curator, upload: true},
		pb.BankService_AddItemStream_FullMethodName: {role: curator, upload: true},
		pb.BankService_UpdateItem_FullMethodName:    {role: curator},
		pb.BankService_DeleteItem_FullMethodName:    {role: curator},
		pb.BankService_ImportSignals_FullMethodName: {role: curator},
		pb.BankService_ExportSignals_FullMethodName: {role: curator},

		// Tokens and the audit log.
		pb.AdminService_CreateToken_FullMethodName:      {role: admin},
		pb.AdminService_ListTokens_FullMethodName:       {role: admin},
		pb.AdminService_RevokeToken_FullMethodName:      {role: admin},
		pb.AdminService_ListAuditEntries_FullMethodName: {role: admin},
		pb.AdminService_GetServerStatus_FullMethodName:  {role: admin}, // operations: status.go
		pb.AdminService_BackupStore_FullMethodName:      {role: admin}, // operations: backup.go

		// Partner exchanges: credentials are the admin's, fetching the curator's.
		pb.ExchangeService_AddExchange_FullMethodName:       {role: admin},
		pb.ExchangeService_DeleteExchange_FullMethodName:    {role: admin},
		pb.ExchangeService_ListExchanges_FullMethodName:     {role: curator},
		pb.ExchangeService_GetExchangeStatus_FullMethodName: {role: curator},
		pb.ExchangeService_FetchExchange_FullMethodName:     {role: curator},
		pb.ExchangeService_PauseExchange_FullMethodName:     {role: curator},
		pb.ExchangeService_ResumeExchange_FullMethodName:    {role: curator},

		// Health checking is open: load balancers and orchestrators probe
		// without credentials, and it reveals only that the server runs.
		healthpb.Health_Check_FullMethodName: {},
		healthpb.Health_List_FullMethodName:  {},
		healthpb.Health_Watch_FullMethodName: {},

		// Reflection describes the API, not data, but only to those who may
		// read banks.
		reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      {role: moderator},
		reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: {role: moderator},
	}
}

// caller is who makes a call, as the guard established it.
type caller struct {
	actor string          // for the audit log and messages: "tok_... (name)", "cert CN=...", "anonymous"
	key   string          // the rate-limit bucket; "" for anonymous callers, who are not limited
	role  mediamatch.Role // what it may do
	banks []string        // the banks it may use; empty: every bank
}

// canUse reports whether c may use bank.
func (c *caller) canUse(bank string) bool { return len(c.banks) == 0 || slices.Contains(c.banks, bank) }

// authenticate establishes who makes the call in ctx: the token of its
// "authorization: Bearer" metadata, else the subject CN of a verified
// client certificate, else anonymous when authentication is not required.
// It returns an *authError for missing, malformed, unknown, expired or
// revoked credentials, and for a token sent over plaintext from a peer
// that is not on loopback.
func (s *Server) authenticate(ctx context.Context) (*caller, error) {
	p, _ := peer.FromContext(ctx)
	tlsInfo, isTLS := tlsInfoOf(p)
	secret, sent, err := bearer(ctx)
	if err != nil {
		return nil, err
	}
	if sent {
		if !isTLS && !onLoopback(p) {
			return nil, &authError{fmt.Sprintf("token refused: sent without TLS from %s; send tokens over TLS "+
				"(or over plaintext on loopback only), and revoke this one if the network is not trusted", peerAddr(p))}
		}
		tok, tapped := ctx.Value(tappedTokenKey{}).(mediamatch.Token) // looked up when the call was counted
		if !tapped {
			tok, err = s.auth.Authenticate(secret)
		}
		if err != nil {
			return nil, &authError{"token refused: " + err.Error()}
		}
		return &caller{actor: tok.ID + " (" + tok.Name + ")", key: tok.ID, role: tok.Role, banks: tok.Banks}, nil
	}
	if isTLS && len(tlsInfo.State.VerifiedChains) > 0 && len(tlsInfo.State.VerifiedChains[0]) > 0 {
		cn := tlsInfo.State.VerifiedChains[0][0].Subject.CommonName
		role, ok := s.opts.ClientRoles[cn]
		if !ok {
			return nil, &authError{fmt.Sprintf("client certificate CN=%q has no role on this server "+
				"(serve --client-role %s=ROLE), and no token was sent", cn, cn)}
		}
		return &caller{actor: "cert CN=" + cn, key: "cert CN=" + cn, role: role}, nil
	}
	if s.opts.RequireAuth || s.auth.HasTokens() {
		return nil, &authError{`missing credentials: send a token as the metadata "authorization: Bearer <token>" ` +
			"(mediamatch --token or $MEDIAMATCH_TOKEN) or a client certificate with a role"}
	}
	// Authentication is off: a loopback server without tokens.
	return &caller{actor: "anonymous", role: mediamatch.RoleAdmin}, nil
}

// authorize returns a *deniedError unless c's role may call method.
func authorize(c *caller, method string, a access) error {
	if a.role == "" || c.role.Includes(a.role) {
		return nil
	}
	return &deniedError{fmt.Sprintf("%s has role %s; %s needs %s or above", c.actor, c.role, shortMethod(method), a.role)}
}

// bearer returns the secret of the call's authorization metadata, and
// whether there was any. A value other than one "Bearer <secret>" is an
// *authError; the value itself is never echoed.
func bearer(ctx context.Context) (secret string, sent bool, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", true, &authError{fmt.Sprintf("malformed authorization metadata: %d values, want one \"Bearer <token>\"", len(vals))}
	}
	scheme, secret, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return "", true, &authError{`malformed authorization metadata: want "Bearer <token>"`}
	}
	return secret, true, nil
}

func tlsInfoOf(p *peer.Peer) (credentials.TLSInfo, bool) {
	if p == nil {
		return credentials.TLSInfo{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	return info, ok
}

// onLoopback reports whether the peer is on this host: a loopback TCP
// address or a Unix socket.
func onLoopback(p *peer.Peer) bool {
	if p == nil {
		return false
	}
	switch a := p.Addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// peerNet is peerIP for limits on failures: an IPv6 peer is counted by
// its /64, which one host usually holds whole, so that it cannot make
// itself a fresh allowance per address.
func peerNet(ctx context.Context) string {
	ip := peerIP(ctx)
	if a := net.ParseIP(ip); a != nil && a.To4() == nil {
		return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip
}

// peerIP returns the IP address of the call's peer ("127.0.0.1"), "unix"
// for a Unix socket, or "unknown".
func peerIP(ctx context.Context) string {
	p, _ := peer.FromContext(ctx)
	if p == nil || p.Addr == nil {
		return "unknown"
	}
	switch a := p.Addr.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.UnixAddr:
		return "unix"
	}
	if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return host
	}
	return p.Addr.String()
}

func peerAddr(p *peer.Peer) string {
	if p == nil || p.Addr == nil {
		return "an unknown peer"
	}
	return p.Addr.String()
}

// shortMethod returns "BankService/DeleteBank" for
// "/mediamatch.v1.BankService/DeleteBank".
func shortMethod(full string) string {
	full = strings.TrimPrefix(full, "/")
	return strings.TrimPrefix(full, "mediamatch.v1.")
}

type callerKey struct{}

func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerOf returns the caller the guard put in ctx; nil when the call did
// not pass the guard (a grpc.Server built without ServerOptions), which
// limits nothing.
func callerOf(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// allowBank returns a *deniedError unless the caller may use bank; field
// names the request field that names it. Handlers call it after
// validation and before any other use of the bank, so that a caller
// limited to banks learns nothing, not even whether another bank exists.
func allowBank(ctx context.Context, field, bank string) error {
	c := callerOf(ctx)
	if c == nil || c.canUse(bank) {
		return nil
	}
	return &deniedError{fmt.Sprintf("%s: %s may not use bank %s (it may use %s)",
		field, c.actor, quote(bank), strings.Join(c.banks, ", "))}
}

// matchBanks returns the banks a match searches, from the banks named in
// its options (field names them): those, each allowed by allowBank; or,
// when none are named and the caller is limited to banks, those of its
// banks that exist. none reports that there is nothing to search (a
// limited caller whose banks are all gone): the match finds nothing.
func (s *Server) matchBanks(ctx context.Context, field string, named []string) (banks []string, none bool, err error) {
	c := callerOf(ctx)
	if c == nil || len(c.banks) == 0 {
		return named, false, nil
	}
	for i, b := range named {
		if err := allowBank(ctx, fmt.Sprintf("%s[%d]", field, i), b); err != nil {
			return nil, false, err
		}
	}
	if len(named) > 0 {
		return named, false, nil
	}
	for _, b := range c.banks {
		if _, err := s.banks.GetBank(ctx, b); err == nil {
			banks = append(banks, b)
		}
	}
	return banks, len(banks) == 0, nil
}

// allowTokenBanks returns a *deniedError unless the caller may create a
// token for banks: a caller limited to banks may only give a token some of
// its own.
func allowTokenBanks(ctx context.Context, field string, banks []string) error {
	c := callerOf(ctx)
	if c == nil || len(c.banks) == 0 {
		return nil
	}
	if len(banks) == 0 {
		return &deniedError{fmt.Sprintf("%s: empty (every bank), but %s is limited to %s; name some of its banks",
			field, c.actor, strings.Join(c.banks, ", "))}
	}
	for i, b := range banks {
		if err := allowBank(ctx, fmt.Sprintf("%s[%d]", field, i), b); err != nil {
			return err
		}
	}
	return nil
}
