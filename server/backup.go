package server

import (
	"context"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// backupChunk is the largest piece of a backup in one message.
const backupChunk = 1 << 20

// BackupStore streams Options.Backup's file in pieces of backupChunk. A
// caller limited to banks is refused: the store holds every bank.
func (a *adminService) BackupStore(req *pb.BackupStoreRequest, stream pb.AdminService_BackupStoreServer) error {
	if a.s.opts.Backup == nil {
		return status.Error(codes.Unimplemented, "backups are not available on this server")
	}
	ctx := stream.Context()
	if callerBanks(ctx) != nil {
		return status.Error(codes.PermissionDenied, "a backup holds every bank: it needs an admin token not limited to banks")
	}
	w := &chunkSender{send: func(b []byte) error { return stream.Send(&pb.BackupStoreResponse{Chunk: b}) }}
	info, err := a.s.opts.Backup(ctx, w, req.GetSinceVersion())
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		return a.s.backupError(ctx, err)
	}
	a.s.opts.Logger.Info("backup streamed", "version", info.Version, "since", info.Since, "bytes", w.total)
	return nil
}

// backupError maps a backup's error through the server's one error map.
func (s *Server) backupError(ctx context.Context, err error) error {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return err // the stream's own (the client went away)
	}
	return s.toStatus(ctx, err)
}

// chunkSender gathers writes into messages of backupChunk bytes.
type chunkSender struct {
	send  func([]byte) error
	buf   []byte
	total int64
}

func (c *chunkSender) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), backupChunk-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == backupChunk {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkSender) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.send(c.buf)
	c.total += int64(len(c.buf))
	c.buf = make([]byte, 0, backupChunk)
	return err
}

var _ io.Writer = (*chunkSender)(nil)
