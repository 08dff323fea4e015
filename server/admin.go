package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// maxTokenBanks bounds CreateTokenRequest.banks, as stated in admin.proto.
const maxTokenBanks = 100

// adminService implements pb.AdminServiceServer: tokens and the audit log.
// The guard lets only admins in.
type adminService struct {
	pb.UnimplementedAdminServiceServer
	s *Server
}

func (a *adminService) CreateToken(ctx context.Context, req *pb.CreateTokenRequest) (*pb.CreateTokenResponse, error) {
	s := a.s
	var vs violations
	vs.addErr("CreateTokenRequest.name", mediamatch.ValidateTokenName("CreateTokenRequest.name", req.GetName()))
	role, ok := pb.RoleFromProto(req.GetRole())
	if !ok {
		vs.add("CreateTokenRequest.role", "%s, want one of %s", req.GetRole(), roleNames())
	}
	if n := len(req.GetBanks()); n > maxTokenBanks {
		vs.add("CreateTokenRequest.banks", "%d names, want at most %d", n, maxTokenBanks)
	} else {
		for i, b := range req.GetBanks() {
			checkBankName(&vs, fmt.Sprintf("CreateTokenRequest.banks[%d]", i), b)
		}
	}
	t := mediamatch.Token{Name: req.GetName(), Role: role, Banks: req.GetBanks()}
	if e := req.GetExpireTime(); e != nil {
		if err := e.CheckValid(); err != nil {
			vs.add("CreateTokenRequest.expire_time", "%v, want a valid time in the future", err)
		} else if now := s.opts.Now(); !e.AsTime().After(now) {
			vs.add("CreateTokenRequest.expire_time", "%s, want a time in the future (now is %s)",
				e.AsTime().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		} else {
			t.ExpireTime = e.AsTime()
		}
	}
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := allowTokenBanks(ctx, "CreateTokenRequest.banks", req.GetBanks()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	tok, secret, err := s.tokens.CreateToken(ctx, t)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.CreateTokenResponse{Token: pb.TokenToProto(tok), Secret: secret}, nil
}

// An admin limited to banks administers only within them: it lists and
// revokes only tokens limited to some of its banks (never a token for
// every bank, nor one that also reaches another bank; a token it may not
// see is NotFound, as one that does not exist), and reads only the audit
// entries of its own calls and of calls on its banks (see auditVisible).
// CreateToken gives a new token some of its banks (allowTokenBanks).

// callerBanks returns the banks the caller is limited to; nil when it is
// not limited (or the call did not pass the guard).
func callerBanks(ctx context.Context) []string {
	if c := callerOf(ctx); c != nil {
		return c.banks
	}
	return nil
}

// auditVisible returns the filter of the audit log for the caller: nil
// (everything) for an unlimited caller; else the entries it made itself,
// and the BankService entries whose target (a bank, or bank/item) is one
// of its banks.
func auditVisible(ctx context.Context) func(mediamatch.AuditEntry) bool {
	c := callerOf(ctx)
	if c == nil || len(c.banks) == 0 {
		return nil
	}
	return func(e mediamatch.AuditEntry) bool {
		if e.Actor == c.actor {
			return true
		}
		if !strings.HasPrefix(e.Action, "BankService/") {
			return false
		}
		bank, _, _ := strings.Cut(e.Target, "/")
		return c.canUse(bank)
	}
}

func (a *adminService) ListTokens(ctx context.Context, _ *pb.ListTokensRequest) (*pb.ListTokensResponse, error) {
	s := a.s
	toks, err := s.tokens.ListTokensWithin(ctx, callerBanks(ctx))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &pb.ListTokensResponse{Tokens: make([]*pb.Token, len(toks))}
	for i, t := range toks {
		resp.Tokens[i] = pb.TokenToProto(t)
	}
	return resp, nil
}

func (a *adminService) RevokeToken(ctx context.Context, req *pb.RevokeTokenRequest) (*pb.RevokeTokenResponse, error) {
	s := a.s
	if req.GetId() == "" {
		return nil, s.toStatus(ctx, invalid("RevokeTokenRequest.id", `empty, want a token id ("tok_...")`))
	}
	tok, err := s.tokens.RevokeTokenWithin(ctx, req.GetId(), callerBanks(ctx))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.RevokeTokenResponse{Token: pb.TokenToProto(tok)}, nil
}

func (a *adminService) ListAuditEntries(ctx context.Context, req *pb.ListAuditEntriesRequest) (*pb.ListAuditEntriesResponse, error) {
	s := a.s
	var vs violations
	checkPageSize(&vs, "ListAuditEntriesRequest.page_size", req.GetPageSize())
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	entries, next, err := s.audit.ListAuditWhere(ctx, int(req.GetPageSize()), req.GetPageToken(), auditVisible(ctx))
	if err != nil {
		return nil, s.toStatus(ctx, pageTokenError("ListAuditEntriesRequest.page_token", err))
	}
	resp := &pb.ListAuditEntriesResponse{NextPageToken: next, Entries: make([]*pb.AuditEntry, len(entries))}
	for i, e := range entries {
		resp.Entries[i] = pb.AuditEntryToProto(e)
	}
	return resp, nil
}

func roleNames() string {
	var names []string
	for _, r := range mediamatch.Roles() {
		names = append(names, pb.RoleToProto(r).String())
	}
	return strings.Join(names, ", ")
}
