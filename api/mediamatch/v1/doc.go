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
// Package server implements its services and package client calls them.
//
// It imports api/mediamatch, protobuf and gRPC, and never Badger,
// ffmpeg-go, aws-sdk-go, goimagehash, golang.org/x/image, cgo, nor
// fingerprint, index or server: a program that only speaks the API links
// none of them.
package mediamatchv1
