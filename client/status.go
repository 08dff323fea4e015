package client

import (
	"context"
	"io"

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

// Backup streams a backup of the server's store into w
// (AdminService.BackupStore): a full one when since is 0, else the writes
// from store version since on. Needs an admin token not limited to
// banks. w holds a partial file on error. Errors wrap the sentinels of
// errors.go, or are w's.
func (c *Client) Backup(ctx context.Context, w io.Writer, since uint64) error {
	stream, err := c.admin.BackupStore(ctx, &pb.BackupStoreRequest{SinceVersion: since})
	if err != nil {
		return fromRPC(err)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fromRPC(err)
		}
		if _, err := w.Write(m.GetChunk()); err != nil {
			return err
		}
	}
}
