package server

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
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

// FFmpegVersion returns the version the ffmpeg binary bin reports
// ("5.1.9-0+deb12u1"), or "unavailable (...)" saying why it could not be
// learnt. It runs bin for at most 10 seconds.
func FFmpegVersion(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-hide_banner", "-version").Output()
	if err != nil {
		return fmt.Sprintf("unavailable (%s: %v)", bin, err)
	}
	line, _, _ := bytes.Cut(out, []byte("\n"))
	// "ffmpeg version 7.1.1-1+b1 Copyright (c) ..."
	if f := strings.Fields(string(line)); len(f) >= 3 && f[1] == "version" {
		return f[2]
	}
	return strings.TrimSpace(string(line))
}
