package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDeployFiles holds the Dockerfile and the systemd unit to what the
// README promises of them, since neither Docker nor systemd runs in the
// tests: a multi-stage build whose image has ffmpeg and libjpeg-turbo,
// runs as a user without privileges, keeps its data in a volume and
// checks its health with the grpc.health.v1 probe; a unit that runs serve
// with its sandboxing options; and every MEDIAMATCH_* variable either sets
// is a setting serve takes (a renamed flag would otherwise leave them
// silently wrong).
func TestDeployFiles(t *testing.T) {
	root := filepath.Join("..", "..", "..", "..")
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	keys := serveKeys()
	checkEnv := func(file, text string) {
		t.Helper()
		for _, m := range regexp.MustCompile(`MEDIAMATCH_[A-Z0-9_]+`).FindAllString(text, -1) {
			if m == EnvConfig {
				continue
			}
			if !slices.ContainsFunc(keys, func(k string) bool { return envName(k) == m }) {
				t.Errorf("%s sets %s, which is no setting of serve", file, m)
			}
		}
	}

	docker := read("Dockerfile")
	stages := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(docker, -1)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a build stage and a run stage", len(stages))
	}
	run := docker[stages[len(stages)-1][0]:]
	for _, want := range []string{"ffmpeg", "libjpeg62-turbo", "VOLUME", "HEALTHCHECK", `"mediamatch", "health"`, "ENTRYPOINT"} {
		if !strings.Contains(run, want) {
			t.Errorf("Dockerfile's run stage lacks %q", want)
		}
	}
	if u := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(run); u == nil || strings.HasPrefix(u[1], "root") || strings.HasPrefix(u[1], "0") {
		t.Errorf("Dockerfile's run stage runs as %v, want a user without privileges", u)
	}
	checkEnv("Dockerfile", docker)

	unit := read(filepath.Join("deploy", "mediamatch.service"))
	for _, want := range []string{"ExecStart=/usr/local/bin/mediamatch serve", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"CapabilityBoundingSet=\n", "StateDirectory=mediamatch", "KillSignal=SIGTERM", "SystemCallFilter="} {
		if !strings.Contains(unit, want) {
			t.Errorf("deploy/mediamatch.service lacks %q", strings.TrimSpace(want))
		}
	}
	checkEnv("deploy/mediamatch.service", unit)
}
