# mediamatch: the two commands for a fresh machine are `make run` and `make test`.

GO      ?= go
DATA    ?= ./data
LISTEN  ?= 127.0.0.1:7878
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test build deps bench generate testdata api-check clean mutants

# deps installs what the service and the tests need beyond Go: ffmpeg, and
# libjpeg-turbo's headers for the fast JPEG path (cgo; see fingerprint/image_libjpeg.go).
deps:
	@{ command -v ffmpeg >/dev/null 2>&1 && [ -f /usr/include/jpeglib.h ]; } || { \
		echo "installing ffmpeg and libjpeg62-turbo-dev with apt-get"; \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y ffmpeg libjpeg62-turbo-dev; }

build:
	$(GO) build -o bin/mediamatch ./cmd/mediamatch

# run starts the service on its embedded store in $(DATA), on loopback, as an
# open development server (serve --dev: no authentication while no token exists).
run: deps build
	./bin/mediamatch serve --dev --data $(DATA) --listen $(LISTEN)

# test is what CI runs (.ci/run): buf lint and a check that the generated
# code matches the .proto files, vet (the testdata generator too), every
# test with the real ffmpeg, and the index's concurrency tests again under
# the race detector.
test: deps api-check
	$(GO) vet ./... ./testdata/gen
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -race -count=1 -run 'Concurrent|ConsistentPrefix|MemorySnapshot|ImportAllOrNothing|MatchDoesNotWaitForWriter|ParallelScan' ./index/ ./index/hamming/

# api-check lints the protobuf API and fails if the committed generated code
# is not what the .proto files generate.
api-check:
	$(GO) generate ./api/...
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git diff --exit-code --stat -- 'api/*.pb.go' || { echo "api/: generated code is stale: run 'make generate' and commit"; exit 1; }; fi

# mutants breaks, one at a time in a scratch copy, the promises that issue 18
# found untested (.ci/mutants/main.go lists them), runs the tests that must
# catch each, and prints a caught/missed table; it fails if any is missed.
# About 25 minutes on 2 cores (10 of them the crash test under its mutant);
# FLAGS=-full runs whole packages throughout, FLAGS=-only=REGEXP some mutations.
mutants: deps
	$(GO) run ./.ci/mutants $(FLAGS)

# bench runs the benchmarks that print ratios against their baselines.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

# generate regenerates the protobuf code after editing api/**/*.proto.
generate:
	$(GO) generate ./api/...

# testdata remakes the fixtures under testdata/ (see testdata/README.md).
testdata: deps
	$(GO) run ./testdata/gen

clean:
	rm -rf bin
