# tandem — build, test and run the local demo.
#
#   make demo          run the local demo: clusters, a Git server and tandem serve with its console (Ctrl-C stops it)
#   make demo-down     stop a running demo from another terminal
#   make build         build bin/tandem
#   make image         build the container image tandem:<version> and tandem:dev from local files, pulling nothing
#   make test          unit tests, then end-to-end tests on local control planes
#   make e2e           end-to-end tests only
#   make lint          go vet and a gofmt check
#   make bench         benchmarks against the performance targets (9 to 11 minutes), report in bench.txt
#   make bench-fleet   tandem serve against 1 + 100 lean API servers (about 13 minutes), report in fleet.txt
#   make controlplane  build the local Kubernetes control planes into bin/controlplane
#   make clusters      start local clusters (cloud, plant-a, plant-b, plant-c) until Ctrl-C
#   make clean         remove bin/tandem and test caches (keeps the control planes)
#   make clean-all     also remove the control planes

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

GO        ?= go
BIN       := $(CURDIR)/bin
CP_BIN    := $(BIN)/controlplane
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

include e2e/controlplane/versions.mk

# The end-to-end tests find the control planes here.
export TANDEM_CONTROLPLANE_BIN := $(CP_BIN)

E2E_TIMEOUT ?= 40m

CLUSTERS ?= cloud,plant-a,plant-b,plant-c

.PHONY: all build test unit e2e lint controlplane clusters demo demo-down clean clean-all check-leftovers

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tandem ./cmd/tandem

test: lint unit e2e

# The reconciler's and the CLI's tests start local clusters too. The render
# and the CEL expressions of replica and policy rules are then fuzzed briefly;
# minimizing a new input is capped so that the fuzzing time goes to new
# inputs.
unit: controlplane
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/e2e')
	$(GO) test ./renderer -run '^$$' -fuzz '^FuzzRender$$' -fuzztime 20s -fuzzminimizetime 2s
	$(GO) test ./renderer/scaling -run '^$$' -fuzz '^FuzzReplicaExpr$$' -fuzztime 8s -fuzzminimizetime 2s
	$(GO) test ./renderer -run '^$$' -fuzz '^FuzzPolicyRule$$' -fuzztime 8s -fuzzminimizetime 2s

e2e: controlplane
	$(GO) test -count=1 -timeout $(E2E_TIMEOUT) ./e2e/...
	@$(MAKE) --no-print-directory check-leftovers

# Benchmarks of the pipeline, package by package, each for a fixed number of
# iterations so the whole run stays near 10 minutes on 2 cores: rendering,
# diffing and fetching alone, a no-op reconcile against one API server, the
# console's pages, then
# "tandem serve" with 1 + 10 API servers, with 1 + 10 full clusters rolling
# out a scale change to a Deployment, and with 1 + 30 API servers, and a
# pull-mode site's agent idle for two minutes. bench.txt
# gets the result lines (benchstat reads it); .cache/bench.log the full
# output.
BENCH_REPORT := $(CURDIR)/bench.txt
BENCH_LOG    := $(CURDIR)/.cache/bench.log
bench-run = $(GO) test -count=1 -timeout 30m -run '^$$' -bench '$(2)' -benchtime $(3) $(1) \
	2>>$(BENCH_LOG) | tee -a $(BENCH_LOG) | grep -E '^(goos|goarch|pkg|cpu|Benchmark)' >> $(BENCH_REPORT)

.PHONY: bench
bench: controlplane
	@mkdir -p $(dir $(BENCH_LOG)); : > $(BENCH_LOG); : > $(BENCH_REPORT)
	$(call bench-run,./renderer,.,3x)
	$(call bench-run,./diff,.,5x)
	$(call bench-run,./sources,.,10x)
	$(call bench-run,./reconciler,.,50x)
	$(call bench-run,./daemon/console,.,5x)
	$(call bench-run,./e2e,CommitToApplied,20x)
	$(call bench-run,./e2e,PushToReplicas,10x)
	$(call bench-run,./e2e,DaemonRSS,3x)
	$(call bench-run,./e2e,AgentSteadyState,1x)
	@cat $(BENCH_REPORT)
	@$(MAKE) --no-print-directory check-leftovers

# "tandem serve" against a cloud and FLEET_SITES edge sites, each a lean
# API server of its own on one shared etcd, started 4 at a time: push →
# applied over 10 pushes, the daemon's memory per site, and its CPU time and
# requests while the fleet idles. Not part of "make bench": it holds most
# of the machine for about 13 minutes. fleet.txt gets the result lines,
# .cache/bench-fleet.log the full output.
FLEET_SITES  ?= 100
FLEET_REPORT := $(CURDIR)/fleet.txt
FLEET_LOG    := $(CURDIR)/.cache/bench-fleet.log

.PHONY: bench-fleet
bench-fleet: controlplane
	@mkdir -p $(dir $(FLEET_LOG)); : > $(FLEET_LOG); : > $(FLEET_REPORT)
	TANDEM_FLEET_SITES=$(FLEET_SITES) $(GO) test -count=1 -timeout 60m -run '^$$' -bench '^BenchmarkFleet$$' -benchtime 10x ./e2e \
		2>>$(FLEET_LOG) | tee -a $(FLEET_LOG) | grep -E '^(goos|goarch|pkg|cpu|Benchmark|    fleet_bench_test.go)' >> $(FLEET_REPORT)
	@cat $(FLEET_REPORT)
	@$(MAKE) --no-print-directory check-leftovers

lint:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

# The Go build cache makes this a no-op when nothing changed; the stamp file
# records which versions the binaries were built from.
controlplane: $(CP_BIN)/.stamp

$(CP_BIN)/.stamp: e2e/controlplane/go.mod e2e/controlplane/go.sum e2e/controlplane/etcd/main.go e2e/controlplane/versions.mk
	@mkdir -p $(CP_BIN)
	@echo ">> building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $(K8S_VERSION) and etcd (cold: about 10 minutes)"
	cd e2e/controlplane && $(GO) build -o $(CP_BIN)/ -ldflags '$(K8S_LDFLAGS)' \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kubectl \
		./etcd
	@echo ">> building kwok $(KWOK_VERSION)"
	GOBIN=$(CP_BIN) $(GO) install sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)
	@dir=$$($(GO) mod download -json sigs.k8s.io/kwok@$(KWOK_VERSION) | sed -n 's/.*"Dir": "\(.*\)",/\1/p'); \
	out=$(CP_BIN)/kwok-stages.yaml; : > $$out; \
	for f in $$dir/kustomize/stage/node/fast/*.yaml $$dir/kustomize/stage/node/heartbeat/*.yaml $$dir/kustomize/stage/pod/fast/*.yaml; do \
		case $$(basename $$f) in kustomization.yaml) continue;; esac; \
		echo '---' >> $$out; cat $$f >> $$out; \
	done
	@echo "$(K8S_VERSION) kwok-$(KWOK_VERSION)" > $@

demo: build controlplane
	@$(GO) build -o $(BIN)/demo ./e2e/cmd/demo
	@$(BIN)/demo up --tandem $(BIN)/tandem --dir $(CURDIR)/.cache/demo

demo-down:
	@$(GO) run ./e2e/cmd/demo down --dir $(CURDIR)/.cache/demo

clusters: controlplane
	$(GO) run ./e2e/cmd/testbed up --full --clusters $(CLUSTERS) --dir $(CURDIR)/.cache/testbed

# Fails when a control-plane process outlived the tests that started it.
check-leftovers:
	@left=$$(pgrep -a -f '^$(CP_BIN)/' || true); \
	if [ -n "$$left" ]; then echo "processes left behind:"; echo "$$left"; exit 1; fi

clean:
	rm -f $(BIN)/tandem
	$(GO) clean -testcache

clean-all: clean
	rm -rf $(BIN)

# The image holds a static tandem, the host's CA certificates and the nonroot
# user (65532), staged in IMAGE_CONTEXT with the modes they get in the image:
# rootfs/ becomes /, home/ becomes /home/nonroot. Nothing is pulled, and the
# legacy builder needs no BuildKit frontend; an unchanged tree rebuilds from
# Docker's layer cache.
IMAGE         ?= tandem
IMAGE_CONTEXT ?= $(CURDIR)/.cache/image
CA_BUNDLE     ?= /etc/ssl/certs/ca-certificates.crt
image_root    := $(IMAGE_CONTEXT)/rootfs

.PHONY: image
image:
	@test -f $(CA_BUNDLE) || { echo "no CA bundle at $(CA_BUNDLE): install ca-certificates or set CA_BUNDLE"; exit 1; }
	@mkdir -p $(image_root)/etc/ssl/certs $(image_root)/usr/local/bin $(image_root)/tmp $(IMAGE_CONTEXT)/home
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $(image_root)/usr/local/bin/tandem ./cmd/tandem
	@cp $(CA_BUNDLE) $(image_root)/etc/ssl/certs/ca-certificates.crt
	@printf '%s\n' root:x:0:0:root:/root:/sbin/nologin nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin > $(image_root)/etc/passwd
	@printf '%s\n' root:x:0: nonroot:x:65532: > $(image_root)/etc/group
	@cd $(image_root) && chmod 0755 . etc etc/ssl etc/ssl/certs usr usr/local usr/local/bin usr/local/bin/tandem $(IMAGE_CONTEXT)/home \
		&& chmod 0644 etc/passwd etc/group etc/ssl/certs/ca-certificates.crt && chmod 1777 tmp
	DOCKER_BUILDKIT=0 docker build --file Dockerfile --tag $(IMAGE):$(VERSION) --tag $(IMAGE):dev $(IMAGE_CONTEXT)
