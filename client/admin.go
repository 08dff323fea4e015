package client

import (
	"context"
	"iter"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// TokenSpec describes a token to create.
type TokenSpec struct {
	Name  string          // who or what it is for, 1..128 bytes
	Role  mediamatch.Role // required
	Banks []string        // the banks it may use; empty: every bank
	// ExpireTime is when it stops working; zero: never.
	ExpireTime time.Time
}

// CreateToken creates a token and returns it with its secret, which the
// server does not keep: it is returned only here. Needs the admin role
// (ErrPermissionDenied otherwise); ErrInvalidArgument for a bad spec.
func (c *Client) CreateToken(ctx context.Context, spec TokenSpec) (mediamatch.Token, string, error) {
	req := &pb.CreateTokenRequest{Name: spec.Name, Role: pb.RoleToProto(spec.Role), Banks: spec.Banks}
	if !spec.ExpireTime.IsZero() {
		req.ExpireTime = timestamppb.New(spec.ExpireTime)
	}
	resp, err := c.admin.CreateToken(ctx, req)
	if err != nil {
		return mediamatch.Token{}, "", fromRPC(err)
	}
	return pb.TokenFromProto(resp.GetToken()), resp.GetSecret(), nil
}

// ListTokens returns every token, revoked and expired ones included,
// oldest first.
func (c *Client) ListTokens(ctx context.Context) ([]mediamatch.Token, error) {
	resp, err := c.admin.ListTokens(ctx, &pb.ListTokensRequest{})
	if err != nil {
		return nil, fromRPC(err)
	}
	out := make([]mediamatch.Token, len(resp.GetTokens()))
	for i, t := range resp.GetTokens() {
		out[i] = pb.TokenFromProto(t)
	}
	return out, nil
}

// RevokeToken revokes a token by id; from its return the server refuses
// the token's secret. ErrNotFound if there is no such token.
func (c *Client) RevokeToken(ctx context.Context, id string) (mediamatch.Token, error) {
	resp, err := c.admin.RevokeToken(ctx, &pb.RevokeTokenRequest{Id: id})
	if err != nil {
		return mediamatch.Token{}, fromRPC(err)
	}
	return pb.TokenFromProto(resp.GetToken()), nil
}

// ListAudit iterates over the audit log, oldest first, fetching pages as
// it goes. An error ends the iteration.
func (c *Client) ListAudit(ctx context.Context) iter.Seq2[mediamatch.AuditEntry, error] {
	return func(yield func(mediamatch.AuditEntry, error) bool) {
		token := ""
		for {
			resp, err := c.admin.ListAuditEntries(ctx, &pb.ListAuditEntriesRequest{PageSize: int32(c.pageSize), PageToken: token})
			if err != nil {
				yield(mediamatch.AuditEntry{}, fromRPC(err))
				return
			}
			for _, e := range resp.GetEntries() {
				if !yield(pb.AuditEntryFromProto(e), nil) {
					return
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				return
			}
		}
	}
}
