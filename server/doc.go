// Package server is the gRPC face of mediamatch: a thin adapter that
// validates requests at the edge, converts them to fingerprint and index
// types, calls the hasher and the index, and maps their errors to gRPC
// statuses. It holds no state of its own (the scheduler's is only which
// runs are going on and when each exchange is next due).
//
// New builds the five services (MatchService, HashService, BankService,
// AdminService, and ExchangeService over Options.Exchanges) over any
// Index and Hasher, and ServerOptions the
// grpc.Server options that guard them: one unary and one stream
// interceptor authenticate every call (auth.go), rate-limit it, authorise
// it by role from one table, bound its deadline, give uploads their slots
// and memory and end idle or slow streams, recover from panics, count it
// and audit curator and admin actions (guard.go); and fixed flow-control
// windows and a cap on open calls bound what the transport buffers (see
// Options.MemoryBound). Run is the whole process behind `mediamatch
// serve`: it opens the index, listens (TLS from Config.Credentials, at
// most Config.MaxConnections connections), serves with health checking
// and reflection, and shuts down gracefully.
//
// It is the one package that imports both gRPC and the domain packages
// (api/mediamatch, fingerprint, index, index/hashlist, server/exchange). The command line's
// serve calls Run; tests of client and the command line run a real server
// with New. It never imports the command line (cmd/mediamatch/...) nor
// package client: the server does not depend on its callers.
package server
