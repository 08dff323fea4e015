// Package mediamatchv1 holds the mediamatch.v1 protobuf API and the Go code
// generated from it. Regenerate after editing a .proto file with
//
//	go generate ./api/...
//
// which runs buf (fetched through the Go module proxy) with the local
// protoc-gen-go and protoc-gen-go-grpc plugins pinned in go.mod.
//
// The hand-written convert.go converts its messages to and from the domain
// types of package mediamatch (api/mediamatch), the service's ground floor.
package mediamatchv1

//go:generate sh -c "cd ../../.. && go run github.com/bufbuild/buf/cmd/buf@v1.75.0 lint && go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate"
