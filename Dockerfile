# mediamatch: the service in a container (see README, Operations).
#
#   docker build -t mediamatch .
#   docker run -d --name mediamatch -v mediamatch-data:/var/lib/mediamatch \
#       -v /etc/mediamatch/tls:/etc/mediamatch/tls:ro \
#       -e MEDIAMATCH_LISTEN=0.0.0.0:7878 \
#       -e MEDIAMATCH_TLS_CERT=/etc/mediamatch/tls/server.pem -e MEDIAMATCH_TLS_KEY=/etc/mediamatch/tls/server-key.pem \
#       -p 7878:7878 mediamatch
#
# Without TLS serve listens on loopback only, which a port mapping cannot
# reach: outside the container give it a certificate as above (or run it
# with --network host on 127.0.0.1). The first start writes an admin token's
# secret to /var/lib/mediamatch/bootstrap-admin-token (docker exec ... cat).

# Build: Go with cgo for libjpeg-turbo's fast JPEG path.
FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjpeg62-turbo-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The work tree's .git (if sent) lets the build record its commit, which
# `mediamatch version` and `mediamatch status` report.
RUN CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/mediamatch ./cmd/mediamatch

# Run: Debian slim with ffmpeg and libjpeg-turbo, as a user without privileges.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg libjpeg62-turbo ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mediamatch \
 && useradd --system --uid 10001 --gid mediamatch --home-dir /var/lib/mediamatch --shell /usr/sbin/nologin mediamatch \
 && install -d -o mediamatch -g mediamatch -m 0700 /var/lib/mediamatch
COPY --from=build /out/mediamatch /usr/local/bin/mediamatch
USER mediamatch:mediamatch
WORKDIR /var/lib/mediamatch
VOLUME ["/var/lib/mediamatch"]
ENV MEDIAMATCH_DATA=/var/lib/mediamatch \
    MEDIAMATCH_LOG_FORMAT=json
# 7878: gRPC (MatchService, HashService, BankService, AdminService, health).
# 9090: Prometheus metrics, when MEDIAMATCH_METRICS_LISTEN=0.0.0.0:9090 and a
# MEDIAMATCH_METRICS_TOKEN (or metrics TLS) protects them.
EXPOSE 7878 9090
# grpc.health.v1: SERVING once the index has loaded (start-period covers a
# large index), NOT_SERVING while draining after SIGTERM. With TLS on a
# name the certificate does not hold for 127.0.0.1, override it, e.g.
#   --health-cmd 'mediamatch health --tls-ca /etc/mediamatch/tls/ca.pem --tls-server-name mm.example.org'
HEALTHCHECK --interval=15s --timeout=5s --start-period=10m --retries=3 \
    CMD ["mediamatch", "health", "--timeout", "4s"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["mediamatch"]
CMD ["serve"]
