// Package client is the Go client of mediamatch: it wraps the generated
// gRPC stubs in Go types (mediamatch.Media for fingerprints, Match, Bank,
// Item), picks unary or streaming calls by size, iterates list pages, and
// maps status codes to sentinel errors (errors.Is(err, client.ErrNotFound)).
//
//	conn, err := grpc.NewClient("127.0.0.1:7878",
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
//	...
//	c := client.New(conn)
//	res, err := c.Match(ctx, data, client.MatchOptions{Banks: []string{"tve"}})
//
// A server that requires authentication takes a token: dial with
// grpc.WithPerRPCCredentials(client.TokenCredentials(secret, false)) and
// TLS (credentials.NewTLS), or a client certificate in the TLS config.
// The admin methods (CreateToken, ListTokens, RevokeToken, ListAudit) need
// the admin role.
//
// The mediamatch command line (cmd/mediamatch/internal/cli) is built on
// this package, and so is any Go program of a platform that calls the
// service.
//
// It imports api/mediamatch, api/mediamatch/v1 and gRPC only. It never
// imports Badger, ffmpeg-go, aws-sdk-go, goimagehash or golang.org/x/image,
// nor packages fingerprint, index or server, and nothing it depends on has
// cgo files: a caller links no media decoder and no store, and builds with
// CGO_ENABLED=0. A caller that hashes media itself does so with package
// fingerprint and sends the signals.
package client
