package server

import (
	"runtime"
	"runtime/debug"
)

// BuildInfo names the build of the running binary.
type BuildInfo struct {
	// Version is the main module's version ("(devel)" for a build from a
	// work tree, "v1.2.3" for `go install ...@v1.2.3`).
	Version string
	// Revision and Time are the VCS commit and its time, when the build
	// recorded them (vcs.revision, vcs.time; empty under -buildvcs=false);
	// Modified says the work tree had uncommitted changes.
	Revision, Time string
	Modified       bool
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// ReadBuildInfo returns the running binary's BuildInfo from
// runtime/debug.ReadBuildInfo; fields it cannot learn are empty, and
// Version is "unknown" when the binary has no build information.
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}
