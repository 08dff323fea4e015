package client

import (
	"context"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// ServerStatus returns the server's status (AdminService.GetServerStatus:
// build, uptime, data dir size, items per bank, signals per type, index
// load time, last import per bank). Needs the admin role; a token limited
// to banks sees only its banks. Errors wrap the sentinels of errors.go.
// Safe for concurrent use.
func (c *Client) ServerStatus(ctx context.Context) (*pb.GetServerStatusResponse, error) {
	resp, err := c.admin.GetServerStatus(ctx, &pb.GetServerStatusRequest{})
	if err != nil {
		return nil, fromRPC(err)
	}
	return resp, nil
}
