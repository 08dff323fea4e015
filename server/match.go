package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
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
	if err := s.allowOptions(ctx, "MatchMediaRequest.options", req.GetOptions()); err != nil {
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
			if err := s.allowOptions(ctx, "MatchMediaStreamRequest.options", first.GetOptions()); err != nil {
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
	media := checkMedia(&vs, "MatchSignalsRequest.media", req.GetMedia(), false)
	checkOptions(&vs, "MatchSignalsRequest.options", req.GetOptions())
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := s.allowOptions(ctx, "MatchSignalsRequest.options", req.GetOptions()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	sc, err := s.matchScope(ctx, "MatchSignalsRequest.options.banks", req.GetOptions())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	ms, err := s.match(ctx, "MatchSignalsRequest.media", media, req.GetOptions(), sc)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.MatchSignalsResponse{Matches: pb.MatchesToProto(visibleMatches(ms, fullMatches(ctx)))}, nil
}

// What a match tells its caller. A matcher (the role of upload gateways)
// must learn whether an upload matches and what to do about it, never the
// banks' hashes. Callers below curator therefore get no distances (Match
// and FrameMatch distance -1 for perceptual signals), no partner
// provenance (Source), matches ordered by bank and id rather than by
// distance, thresholds at most Options.MatcherThresholds and at most
// Options.MaxMatcherResults results. Item id, bank, labels, the signal
// type, the threshold applied, transforms, keyframe pairs, coverage and
// time ranges stay: they say what matched and what to do. Curators and
// above see everything and may ask for any threshold.

// fullMatches reports whether the caller in ctx sees matches whole:
// curators, admins, and calls that did not pass the guard.
func fullMatches(ctx context.Context) bool {
	c := callerOf(ctx)
	return c == nil || c.role.Includes(mediamatch.RoleCurator)
}

// allowOptions returns a *deniedError when a caller below curator asks,
// in validated options o (field names them), for a threshold over its
// ceiling or more results than its cap.
func (s *Server) allowOptions(ctx context.Context, field string, o *pb.MatchOptions) error {
	if fullMatches(ctx) {
		return nil
	}
	c := callerOf(ctx)
	for i, t := range o.GetThresholds() {
		st, _ := pb.SignalTypeFromProto(t.GetSignal())
		if ceiling := s.opts.MatcherThresholds[st]; int(t.GetMaxDistance()) > ceiling {
			return &deniedError{fmt.Sprintf("%s.thresholds[%d].max_distance: %d for %s, over %d, the most a caller "+
				"below curator may ask (%s has role %s; a wider threshold is a curator's)",
				field, i, t.GetMaxDistance(), st, ceiling, c.actor, c.role)}
		}
	}
	if n := int(o.GetMaxResults()); n > s.opts.MaxMatcherResults {
		return &deniedError{fmt.Sprintf("%s.max_results: %d, over %d, the most a caller below curator may ask "+
			"(%s has role %s)", field, n, s.opts.MaxMatcherResults, c.actor, c.role)}
	}
	return nil
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

// match matches media with validated options within sc, within the
// server's budgets. A match over budget is a *limitError naming field, the
// request field that carried the media.
func (s *Server) match(ctx context.Context, field string, media mediamatch.Media, o *pb.MatchOptions, sc scope) ([]mediamatch.Match, error) {
	if sc.none {
		return nil, nil
	}
	q := queryFromOptions(media, o)
	q.Banks = sc.banks
	q.MaxProbes, q.MaxHits, q.MaxFrameMatches = s.opts.MaxMatchProbes, s.opts.MaxMatchHits, s.opts.MaxFrameMatches
	ms, err := s.matcher.Match(ctx, q)
	if e, ok := errors.AsType[*mediamatch.Error](err); ok && e.Code == mediamatch.OverBudget {
		return nil, &limitError{field: field, msg: e.Msg}
	}
	return ms, err
}

// matchContent hashes a file carried by field (with its PDQ dihedral
// variants unless o.upright) and matches it with validated options within
// sc.
func (s *Server) matchContent(ctx context.Context, field string, data []byte, o *pb.MatchOptions, sc scope) ([]*pb.Match, *pb.Media, error) {
	media, err := s.hashContent(ctx, field, data, fingerprint.HashOptions{Dihedral: !o.GetUpright()})
	if err != nil {
		return nil, nil, err
	}
	ms, err := s.match(ctx, field, media, o, sc)
	if err != nil {
		return nil, nil, err
	}
	return pb.MatchesToProto(visibleMatches(ms, fullMatches(ctx))), pb.MediaToProto(media), nil
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
