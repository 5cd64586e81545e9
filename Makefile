# nebula-resource: build, run and test.
#
#   make run       build the host and every plugin, start the quickstart
#   make test      start what the tests need, run every test with -race and
#                  coverage, then every fuzz target for FUZZTIME (make fuzz)
#   make test-unit the tests alone; make cover prints coverage per package
#   make fuzz      run each FuzzXxx in the repository for FUZZTIME (30s)
#   make vulncheck govulncheck on every module, where vuln.go.dev answers
#   make testenv   reuse or start the servers the tests talk to (scripts/testenv)
#   make deploy-check  the deployment packs of deploy/, offline: the image's
#                  build, the Kubernetes manifests, kustomizations and Helm
#                  chart against vendored schemas, the Compose file
#   make build     bin/nebula-host and bin/plugins/nebula-plugin-*
#   make bench     run the benchmarks
#   make bench-compare  each workload through the host beside the backend's
#                  own Go client, one table (ARGS='-only redis -rounds 5')
#   make scale     what 1 and 1,000 memory resources cost a running host
#   make lint      gofmt, go vet, staticcheck; buf lint, and buf breaking
#                  against the protocol as last released (docs/protocol.md)
#   make generate  regenerate the protocol code (pinned generators)
#   make proto-baseline  record the protocol as released, at each release
#   (make lint covers every module, bans "unsafe" and checks
#   .github/workflows/ci.yml against this Makefile and .ci/run)

SHELL := /bin/bash
GO ?= go
# A release build (make build RELEASE=v1.2.3, see docs/releasing.md)
# stamps the host and every plugin with the release's version; any other
# build stamps the host with git describe and leaves the plugins at "dev".
RELEASE ?=
VERSION ?= $(or $(RELEASE),$(shell git describe --tags --always --dirty 2>/dev/null || echo dev))
RELEASE_VAR := github.com/nebula-resource/nebula-resource/internal/release.version
LDFLAGS := -X $(RELEASE_VAR)=$(VERSION)
PLUGIN_LDFLAGS := $(if $(RELEASE),-X $(RELEASE_VAR)=$(RELEASE))
# Each plugin's main package is plugins/DIR/cmd/nebula-plugin-NAME, where
# NAME is what the host looks for (a resource type, or the prefix of one):
# plugins/grpcclient builds nebula-plugin-grpc.
PLUGIN_CMDS := $(wildcard plugins/*/cmd/nebula-plugin-*)
TOOLS := $(CURDIR)/.tools
TEST_FLAGS ?=
# Every Go module of the repository: lint and vulncheck cover them all.
# sdk and sdk/otelexport are what a plugin requires (docs/writing-a-plugin.md);
# the root module uses them through replace directives.
MODULES := . sdk sdk/otelexport examples/thirdparty-plugin testenv scripts/cicheck
# The admin API's wire types and Go client: a module of its own (api/).
MODULES += api
# The deployment packs' checker (make deploy-check): a module of its own,
# so that Helm's and kustomize's dependencies stay out of the product's.
MODULES += deploy/check
COVER := $(CURDIR)/.cover
# The protocol's definition, and the image of it as last released, which
# make lint's buf breaking compares it with (docs/protocol.md).
PROTO := sdk/internal/proto
PROTO_RELEASED := released.binpb
# Fuzzing: each target runs FUZZTIME; FUZZ_JOBS targets at a time;
# FUZZ=REGEXP picks targets by name; FUZZTIME=0 skips fuzzing.
FUZZTIME ?= 30s
FUZZ_JOBS ?= 2
export FUZZTIME FUZZ_JOBS

# Pinned generator and linter versions: make generate reproduces the
# committed code exactly.
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
BUF_VERSION := v1.61.0
STATICCHECK_VERSION := v0.7.0
GOVULNCHECK_VERSION := v1.9.0

.PHONY: all build run test testenv bench bench-compare scale lint generate tools proto-baseline clean

all: build

build:
	@mkdir -p bin/plugins
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/nebula-host ./cmd/nebula-host
	@# Plugins carry no build stamp but a release's version, so their
	@# checksums change only when their code or their release does.
	@for c in $(PLUGIN_CMDS); do \
		echo "$(GO) build -trimpath -buildvcs=false -ldflags '$(PLUGIN_LDFLAGS)' -o bin/plugins/$${c##*/} ./$$c"; \
		$(GO) build -trimpath -buildvcs=false -ldflags '$(PLUGIN_LDFLAGS)' -o bin/plugins/$${c##*/} ./$$c || exit 1; \
	done

run: build
	@mkdir -p .data/files
	./bin/nebula-host run -config examples/quickstart

# The tests build the plugin binaries they run. The SQL plugins' tests talk
# to real PostgreSQL and MariaDB servers: scripts/testenv reuses them where
# they answer and installs and starts private ones where they do not, and
# its env lines tell the tests where they are.
# make test runs the fuzz targets after the unit tests, so that a crasher
# fails CI too.
.PHONY: test-unit fuzz cover vulncheck deploy-check
test: test-unit
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory deploy-check

test-unit: build
	scripts/testenv up
	@mkdir -p $(COVER)
	eval "$$(scripts/testenv env)" && $(GO) test -race -count=1 -timeout 20m -coverprofile=$(COVER)/unit.out $(TEST_FLAGS) ./...
	cd sdk && $(GO) test -race -count=1 -timeout 10m -coverprofile=$(COVER)/sdk.out $(TEST_FLAGS) ./...
	cd sdk/otelexport && $(GO) test -race -count=1 -coverprofile=$(COVER)/otelexport.out $(TEST_FLAGS) ./...
	cd examples/thirdparty-plugin && $(GO) vet ./... && $(GO) test -race -count=1 -coverprofile=$(COVER)/thirdparty-plugin.out ./...
	cd api && $(GO) test -race -count=1 -coverprofile=$(COVER)/api.out ./...

# Every func FuzzXxx(f *testing.F) in every module, found anew each time:
# a new target needs no change here. A crasher fails it and is written to
# the package's testdata/fuzz/FuzzXxx/ (scripts/fuzz prints the path).
fuzz:
	eval "$$(scripts/testenv env)" && GO=$(GO) scripts/fuzz

cover:
	@scripts/coverage $(COVER)/*.out

# The deployment packs (deploy/README.md), without Docker or a cluster: the
# checker's own tests (a bad manifest fails), then the checker, which runs
# the image's build stage on the build context .dockerignore lets through
# and checks the executables are static, validates every manifest of
# deploy/kubernetes and examples/kubernetes, each kustomization's build and
# the Helm chart's renderings against deploy/check/schemas (strict: an
# unknown field fails), lints the chart, and loads the Compose file.
deploy-check:
	@mkdir -p $(COVER)
	cd deploy/check && $(GO) test -race -count=1 -coverprofile=$(COVER)/deploy-check.out ./...
	cd deploy/check && $(GO) run . -root ../..

# govulncheck needs vuln.go.dev (or VULNDB=file:///copy); where it does not
# answer within 5 s, this says so and skips.
vulncheck:
	@GO=$(GO) TOOLS=$(TOOLS) GOVULNCHECK_VERSION=$(GOVULNCHECK_VERSION) MODULES="$(MODULES)" scripts/vulncheck

# The real servers integration tests talk to (PostgreSQL, MariaDB, Redis and
# its cluster, toxiproxy, Kafka, S3, GCS, Azure Blob, MongoDB): reused where
# they answer, installed and started under .testenv where not
# (scripts/README.md).
testenv:
	scripts/testenv up

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	cd sdk && $(GO) test -run '^$$' -bench . -benchmem ./...

# What the host costs over the backends' own Go clients: every workload
# directly, through the host with the driver compiled in, and through the
# plugin binary of make build, each run a fresh process, interleaved over
# rounds (docs/PERFORMANCE.md). ARGS goes to the tool: -only REGEXP,
# -rounds N, -duration D, -json, -csv; go run ./internal/benchcompare -h.
ARGS ?=
bench-compare: build
	scripts/testenv up
	eval "$$(scripts/testenv env)" && $(GO) run ./internal/benchcompare -label "$(VERSION)" $(ARGS)

# The cost of resources in a running host: RSS, goroutines, idle CPU and
# /metrics with 1 and with 1,000 memory resources (docs/PERFORMANCE.md).
scale: build
	$(GO) run ./internal/scale -n 1,1000

lint: $(TOOLS)/staticcheck $(TOOLS)/buf
	@files=$$(git ls-files --cached --others --exclude-standard '*.go'); \
	  bad=$$(gofmt -l $$files); test -z "$$bad" || { echo "$$bad"; echo "gofmt needed: gofmt -w the files above"; exit 1; }
	@for m in $(MODULES); do \
		echo "go vet, staticcheck: $$m"; \
		(cd $$m && $(GO) vet ./... && $(TOOLS)/staticcheck ./...) || exit 1; \
	done
	scripts/check-unsafe
	@# The protocol may change only in ways a host and a plugin of the last
	@# release still understand (docs/protocol.md).
	cd $(PROTO) && $(TOOLS)/buf lint && $(TOOLS)/buf breaking --against $(PROTO_RELEASED)
	cd scripts/cicheck && $(GO) test -count=1 ./...

# Pinned: the stamp names the version, so a new STATICCHECK_VERSION
# reinstalls $(TOOLS)/staticcheck, and a new BUF_VERSION $(TOOLS)/buf.
$(TOOLS)/staticcheck: $(TOOLS)/.staticcheck-$(STATICCHECK_VERSION)
$(TOOLS)/.staticcheck-$(STATICCHECK_VERSION):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@touch $@

$(TOOLS)/buf: $(TOOLS)/.buf-$(BUF_VERSION)
$(TOOLS)/.buf-$(BUF_VERSION):
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@touch $@

tools: $(TOOLS)/buf
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

generate: tools
	cd $(PROTO) && PATH="$(TOOLS):$$PATH" buf lint && PATH="$(TOOLS):$$PATH" buf generate

# At each release (docs/releasing.md): the protocol as this release speaks
# it becomes the baseline of make lint's buf breaking.
proto-baseline: $(TOOLS)/buf
	cd $(PROTO) && $(TOOLS)/buf build --exclude-source-info -o $(PROTO_RELEASED)

clean:
	rm -rf bin .data .cover
