# zoom_exporter: build, test, lint, container image.
# `make test` runs the README's test command (what CI runs), through .ci/run.

GO          ?= go
DOCKER      ?= docker
DOCKER_IMAGE ?= zoom_exporter
BINARY      ?= zoom_exporter

VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell whoami 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)

# The same version variables as the Dockerfile and .goreleaser.yml set.
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -s -w \
	-X $(VERSION_PKG).Version=$(VERSION) \
	-X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) \
	-X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

.PHONY: all build test lint fmt vet docker release-snapshot clean

all: lint build test

## build: a static binary, ./zoom_exporter
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BINARY) .

## test: the README's test command (gofmt, go vet, every test with -race)
test:
	bash .ci/run

## lint: gofmt and go vet
lint: fmt vet

fmt:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi

vet:
	$(GO) vet ./...

## docker: the container image, tagged $(DOCKER_IMAGE):$(VERSION) and :latest
docker:
	$(DOCKER) build \
		--build-arg VERSION=$(VERSION) \
		--build-arg REVISION=$(REVISION) \
		--build-arg BRANCH=$(BRANCH) \
		--build-arg BUILD_USER=$(BUILD_USER) \
		--build-arg BUILD_DATE=$(BUILD_DATE) \
		-t $(DOCKER_IMAGE):$(VERSION) -t $(DOCKER_IMAGE):latest .

## release-snapshot: cross-built archives in dist/, without publishing
release-snapshot:
	goreleaser release --snapshot --clean

clean:
	rm -rf $(BINARY) dist/
