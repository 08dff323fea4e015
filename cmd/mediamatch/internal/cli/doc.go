// Package cli is the mediamatch command line: `mediamatch serve` runs the
// service, and the other commands (hash, match, add, bank, item, import,
// export, token, audit) call a running server through package client,
// with a token (--token, $MEDIAMATCH_TOKEN) and TLS (--tls-ca, --tls-cert,
// --tls-key) when the server requires them. Main is the whole
// program; cmd/mediamatch only wires it to the process.
//
// It is the one package that ties every other together: client for the
// calls, server for serve, fingerprint for local hashing, index/hashlist
// for the list formats. Being internal, only packages under cmd/mediamatch
// may import it, and only cmd/mediamatch does; nothing else of the module
// may depend on the command line.
package cli
