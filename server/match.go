package server

import (
	"context"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// matchService implements pb.MatchServiceServer.
type matchService struct {
	pb.UnimplementedMatchServiceServer
	s *Server
}

func (m *matchService) MatchMedia(ctx context.Context, req *pb.MatchMediaRequest) (*pb.MatchMediaResponse, error) {
	s := m.s
	var vs violations
	checkOptions(&vs, "MatchMediaRequest.options", req.GetOptions())
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	sc, err := s.matchScope(ctx, "MatchMediaRequest.options.banks", req.GetOptions())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := s.checkContent("MatchMediaRequest.content", "MatchMediaStream", req.GetContent()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	matches, media, err := s.matchContent(ctx, "MatchMediaRequest.content", req.GetContent(), req.GetOptions(), sc)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.MatchMediaResponse{Matches: matches, Query: media}, nil
}

func (m *matchService) MatchMediaStream(stream pb.MatchService_MatchMediaStreamServer) error {
	s, ctx := m.s, stream.Context()
	var sc scope
	first, data, err := receive(stream.Recv, "MatchMediaStreamRequest", s.opts.MaxStreamBytes,
		func(first *pb.MatchMediaStreamRequest) error {
			var vs violations
			checkOptions(&vs, "MatchMediaStreamRequest.options", first.GetOptions())
			if err := vs.err(); err != nil {
				return err
			}
			var err error
			sc, err = s.matchScope(ctx, "MatchMediaStreamRequest.options.banks", first.GetOptions())
			return err
		})
	if err != nil {
		return s.toStatus(ctx, err)
	}
	matches, media, err := s.matchContent(ctx, "MatchMediaStreamRequest.chunk", data, first.GetOptions(), sc)
	if err != nil {
		return s.toStatus(ctx, err)
	}
	return stream.SendAndClose(&pb.MatchMediaStreamResponse{Matches: matches, Query: media})
}

func (m *matchService) MatchSignals(ctx context.Context, req *pb.MatchSignalsRequest) (*pb.MatchSignalsResponse, error) {
	s := m.s
	var vs violations
	checkMedia(&vs, "MatchSignalsRequest.media", req.GetMedia(), false)
	checkOptions(&vs, "MatchSignalsRequest.options", req.GetOptions())
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	media := pb.MediaFromProto(req.GetMedia())
	if err := index.ValidateMedia(media); err != nil {
		return nil, s.toStatus(ctx, invalid("MatchSignalsRequest.media", "%s", reason(err)))
	}
	sc, err := s.matchScope(ctx, "MatchSignalsRequest.options.banks", req.GetOptions())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	ms, err := s.match(ctx, media, req.GetOptions(), sc)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.MatchSignalsResponse{Matches: matchesToProto(ms)}, nil
}

// scope is the banks a match searches (see matchBanks).
type scope struct {
	banks []string // nil: every bank
	none  bool     // nothing to search
}

// matchScope returns the banks a match with validated options o may
// search; field names o's banks. A bank outside the caller's is a
// *deniedError.
func (s *Server) matchScope(ctx context.Context, field string, o *pb.MatchOptions) (scope, error) {
	banks, none, err := s.matchBanks(ctx, field, o.GetBanks())
	return scope{banks: banks, none: none}, err
}

// match matches media with validated options within sc.
func (s *Server) match(ctx context.Context, media fingerprint.Media, o *pb.MatchOptions, sc scope) ([]index.Match, error) {
	if sc.none {
		return nil, nil
	}
	q := queryFromOptions(media, o)
	q.Banks = sc.banks
	return s.ix.Match(ctx, q)
}

// matchContent hashes a file carried by field (with its PDQ dihedral
// variants when o.dihedral) and matches it with validated options within
// sc.
func (s *Server) matchContent(ctx context.Context, field string, data []byte, o *pb.MatchOptions, sc scope) ([]*pb.Match, *pb.Media, error) {
	media, err := s.hashContent(ctx, field, data, fingerprint.HashOptions{Dihedral: o.GetDihedral()})
	if err != nil {
		return nil, nil, err
	}
	ms, err := s.match(ctx, media, o, sc)
	if err != nil {
		return nil, nil, err
	}
	return matchesToProto(ms), pb.MediaToProto(media), nil
}

// hashService implements pb.HashServiceServer.
type hashService struct {
	pb.UnimplementedHashServiceServer
	s *Server
}

func (h *hashService) HashMedia(ctx context.Context, req *pb.HashMediaRequest) (*pb.HashMediaResponse, error) {
	s := h.s
	if err := s.checkContent("HashMediaRequest.content", "HashMediaStream", req.GetContent()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	media, err := s.hashContent(ctx, "HashMediaRequest.content", req.GetContent(), fingerprint.HashOptions{})
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.HashMediaResponse{Media: pb.MediaToProto(media)}, nil
}

func (h *hashService) HashMediaStream(stream pb.HashService_HashMediaStreamServer) error {
	s, ctx := h.s, stream.Context()
	_, data, err := receive(stream.Recv, "HashMediaStreamRequest", s.opts.MaxStreamBytes, nil)
	if err != nil {
		return s.toStatus(ctx, err)
	}
	media, err := s.hashContent(ctx, "HashMediaStreamRequest.chunk", data, fingerprint.HashOptions{})
	if err != nil {
		return s.toStatus(ctx, err)
	}
	return stream.SendAndClose(&pb.HashMediaStreamResponse{Media: pb.MediaToProto(media)})
}
