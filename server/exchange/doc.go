// Package exchange fetches partners' hash lists over HTTP, a page at a
// time, each page with the checkpoint that covers it.
package exchange
