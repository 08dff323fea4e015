package client

import (
	"context"
	"iter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// Role is what a token or client certificate may do; each includes the
// ones before it. It mirrors index.Role (see the note on Match in
// client.go for why the client has its own types).
type Role string

// The roles, from least to most.
const (
	RoleMatcher   Role = "matcher"   // match and hash: what an upload path gets
	RoleModerator Role = "moderator" // and read banks, items and labels
	RoleCurator   Role = "curator"   // and change banks and items, import and export lists
	RoleAdmin     Role = "admin"     // and tokens and the audit log
)

// Roles returns the roles from least to most.
func Roles() []Role { return []Role{RoleMatcher, RoleModerator, RoleCurator, RoleAdmin} }

// Token is an API token as the server stores it: never its secret.
type Token struct {
	ID, Name   string
	Role       Role
	Banks      []string // the banks it may use; empty: every bank
	CreateTime time.Time
	ExpireTime time.Time // zero: never
	RevokeTime time.Time // zero: not revoked
}

// TokenSpec describes a token to create.
type TokenSpec struct {
	Name  string   // who or what it is for, 1..128 bytes
	Role  Role     // required
	Banks []string // the banks it may use; empty: every bank
	// ExpireTime is when it stops working; zero: never.
	ExpireTime time.Time
}

// AuditEntry is one call of a curator or admin RPC: who, what, target and
// outcome.
type AuditEntry struct {
	Time   time.Time
	Actor  string // "tok_... (name)", "cert CN=...", "anonymous", "offline (user)"
	Role   Role
	Action string // "BankService/DeleteBank"
	Target string // a bank, "bank/item", a token id or name
	Detail string // "ok ...", or the status code and message
}

// CreateToken creates a token and returns it with its secret, which the
// server does not keep: it is returned only here. Needs the admin role
// (ErrPermissionDenied otherwise); ErrInvalidArgument for a bad spec.
func (c *Client) CreateToken(ctx context.Context, spec TokenSpec) (Token, string, error) {
	req := &pb.CreateTokenRequest{Name: spec.Name, Role: roleToProto(spec.Role), Banks: spec.Banks}
	if !spec.ExpireTime.IsZero() {
		req.ExpireTime = timestamppb.New(spec.ExpireTime)
	}
	resp, err := c.admin.CreateToken(ctx, req)
	if err != nil {
		return Token{}, "", fromRPC(err)
	}
	return tokenFromProto(resp.GetToken()), resp.GetSecret(), nil
}

// ListTokens returns every token, revoked and expired ones included,
// oldest first.
func (c *Client) ListTokens(ctx context.Context) ([]Token, error) {
	resp, err := c.admin.ListTokens(ctx, &pb.ListTokensRequest{})
	if err != nil {
		return nil, fromRPC(err)
	}
	out := make([]Token, len(resp.GetTokens()))
	for i, t := range resp.GetTokens() {
		out[i] = tokenFromProto(t)
	}
	return out, nil
}

// RevokeToken revokes a token by id; from its return the server refuses
// the token's secret. ErrNotFound if there is no such token.
func (c *Client) RevokeToken(ctx context.Context, id string) (Token, error) {
	resp, err := c.admin.RevokeToken(ctx, &pb.RevokeTokenRequest{Id: id})
	if err != nil {
		return Token{}, fromRPC(err)
	}
	return tokenFromProto(resp.GetToken()), nil
}

// ListAudit iterates over the audit log, oldest first, fetching pages as
// it goes. An error ends the iteration.
func (c *Client) ListAudit(ctx context.Context) iter.Seq2[AuditEntry, error] {
	return func(yield func(AuditEntry, error) bool) {
		token := ""
		for {
			resp, err := c.admin.ListAuditEntries(ctx, &pb.ListAuditEntriesRequest{PageSize: int32(c.pageSize), PageToken: token})
			if err != nil {
				yield(AuditEntry{}, fromRPC(err))
				return
			}
			for _, e := range resp.GetEntries() {
				if !yield(auditFromProto(e), nil) {
					return
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				return
			}
		}
	}
}

// protoRoles pairs each Role with its enum value.
func protoRoles() map[Role]pb.Role {
	return map[Role]pb.Role{RoleMatcher: pb.Role_ROLE_MATCHER, RoleModerator: pb.Role_ROLE_MODERATOR,
		RoleCurator: pb.Role_ROLE_CURATOR, RoleAdmin: pb.Role_ROLE_ADMIN}
}

func roleToProto(r Role) pb.Role { return protoRoles()[r] } // ROLE_UNSPECIFIED for an unknown role

// roleFromProto returns the role of r; for a value this client does not
// know, its enum name.
func roleFromProto(r pb.Role) Role {
	for role, p := range protoRoles() {
		if p == r {
			return role
		}
	}
	return Role(r.String())
}

func tokenFromProto(t *pb.Token) Token {
	return Token{
		ID:         t.GetId(),
		Name:       t.GetName(),
		Role:       roleFromProto(t.GetRole()),
		Banks:      t.GetBanks(),
		CreateTime: asTime(t.GetCreateTime()),
		ExpireTime: asTime(t.GetExpireTime()),
		RevokeTime: asTime(t.GetRevokeTime()),
	}
}

func auditFromProto(e *pb.AuditEntry) AuditEntry {
	return AuditEntry{
		Time:   asTime(e.GetTime()),
		Actor:  e.GetActor(),
		Role:   roleFromProto(e.GetRole()),
		Action: e.GetAction(),
		Target: e.GetTarget(),
		Detail: e.GetDetail(),
	}
}
