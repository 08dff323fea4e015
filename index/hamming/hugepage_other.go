//go:build !linux

package hamming

// backHuge asks for huge pages only on Linux (see hugepage_linux.go).
func backHuge[T any](s []T) {}
