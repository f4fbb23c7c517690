# syntax=docker/dockerfile:1
# Container image of zoom_exporter: a static binary on distroless, run as a
# non-root user. Build it with `make docker`, or:
#   docker build --build-arg VERSION=1.2.3 --build-arg REVISION=$(git rev-parse HEAD) -t zoom_exporter .
# deploy/deploy_test.go runs the `go build` line below as it is written here
# and checks the binary it makes: keep the build on that one RUN line.

# The same Go as the release archives (GOTOOLCHAIN in .goreleaser.yml): a
# patch release, so the binary carries the standard library's security fixes.
FROM --platform=$BUILDPLATFORM golang:1.26.10 AS builder
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_USER=docker
ARG BUILD_DATE=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION} -X github.com/prometheus/common/version.Branch=${BRANCH} -X github.com/prometheus/common/version.BuildUser=${BUILD_USER} -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" -o /out/zoom_exporter .
# The store's directory, owned by the runtime user: a named volume mounted
# on /data starts as a copy of it, so the exporter can write there.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="zoom_exporter" \
      org.opencontainers.image.description="Prometheus exporter for Zoom meeting usage" \
      org.opencontainers.image.source="https://github.com/zoomexporter/zoom_exporter" \
      org.opencontainers.image.url="https://github.com/zoomexporter/zoom_exporter" \
      org.opencontainers.image.documentation="https://github.com/zoomexporter/zoom_exporter#readme" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=builder /out/zoom_exporter /bin/zoom_exporter
COPY --from=builder --chown=65532:65532 /out/data /data
USER 65532:65532
EXPOSE 9865
VOLUME /data
# Credentials come from the environment: ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and
# ZOOM_CLIENT_SECRET (or ZOOM_CLIENT_SECRET_FILE); ZOOM_EXPORTER_DEMO=true
# runs on the built-in demo account instead.
ENTRYPOINT ["/bin/zoom_exporter"]
CMD ["--storage.path=/data"]
