# Developer entry points. `make run` shows the project on a local control plane;
# `make test` is what CI runs (through .ci/run).

CARGO ?= cargo
STATE := target/cluster
CRD_FILE := crds/securityhub.operator.dev_securityhubmembers.yaml
# The control-plane binaries: $SHO_CONTROLPLANE_DIR, else what build.sh prints (it builds
# only what its cache lacks). Expanded only by the recipes that need it.
controlplane_dir = $(or $(SHO_CONTROLPLANE_DIR),$(shell tests/controlplane/build.sh))
# The same directory with the node binaries too (kubelet, kube-controller-manager, kube-scheduler).
node_dir = $(shell tests/controlplane/build.sh --node)
NODE_STATE := target/node
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
IMAGE ?= ghcr.io/securityhub-operator/securityhub-operator:$(VERSION)
IMAGE_ARCHIVE := target/image/securityhub-operator.tar
KUBECTL = $(CONTROLPLANE)/kubectl --kubeconfig $(STATE)/kubeconfig
CLUSTER = $(CARGO) run -q --example cluster -- --state-dir $(STATE)

.PHONY: all build run test test-chart crds crds-check cluster-up cluster-down node-up node-down image e2e lint controlplane pytest chaos bench

all: build

## build: the operator binary and the cluster example
build:
	$(CARGO) build --bins --examples

## run: cluster + emulator + operator + samples, a live table until they settle; Ctrl-C stops it all
## (DEMO_EXIT_WHEN_SETTLED=1: stop and exit once settled; logs in target/demo/)
run: CONTROLPLANE := $(controlplane_dir)
run: build
	SHO_CONTROLPLANE_DIR=$(CONTROLPLANE) scripts/demo.sh

## test: lint, check the committed CRD, all cargo tests, the emulator's boto3 tests, the chart and Argo CD tests
test: CONTROLPLANE := $(controlplane_dir)
test: lint crds-check
	SHO_CONTROLPLANE_DIR=$(CONTROLPLANE) $(CARGO) test
	$(MAKE) --no-print-directory pytest
	$(MAKE) --no-print-directory test-chart

pytest:
	python3 -m pytest tests/emulator_boto3 -q

## test-chart: Helm chart, kustomize base and Argo CD health tests; the live ones get a cluster of their own
test-chart: CONTROLPLANE := $(controlplane_dir)
test-chart:
	scripts/chart-crds.sh --check
	SHO_CONTROLPLANE_DIR=$(CONTROLPLANE) $(CARGO) run -q --example cluster -- --state-dir target/chart-cluster up
	HELM=$(CONTROLPLANE)/helm KUBECTL=$(CONTROLPLANE)/kubectl \
	KUBECONFIG_FOR_TESTS=$(CURDIR)/target/chart-cluster/kubeconfig \
	python3 -m pytest -q tests/chart tests/argocd; \
	status=$$?; $(CARGO) run -q --example cluster -- --state-dir target/chart-cluster down; exit $$status

## crds: regenerate the committed CRD from the Rust types
crds:
	$(CARGO) run -q -- crd > $(CRD_FILE).tmp && mv $(CRD_FILE).tmp $(CRD_FILE)
	scripts/chart-crds.sh
	$(CARGO) run -q -- docs crd-reference > docs/crd-reference.md

crds-check:
	@$(CARGO) run -q -- crd | diff -u $(CRD_FILE) - \
	  || { echo "$(CRD_FILE) is out of date: run 'make crds' and commit it" >&2; exit 1; }

## cluster-up: etcd + kube-apiserver in the background; kubeconfig in target/cluster/kubeconfig
cluster-up: CONTROLPLANE := $(controlplane_dir)
cluster-up:
	SHO_CONTROLPLANE_DIR=$(CONTROLPLANE) $(CLUSTER) up

## cluster-down: stop it (by its recorded PID) and remove its state
cluster-down:
	$(CLUSTER) down

## node-up: a one-node cluster that runs pods (needs root): the control plane plus containerd, kubelet,
## kube-controller-manager and kube-scheduler; kubeconfig in target/node/kubeconfig
node-up: CONTROLPLANE := $(node_dir)
node-up:
	SHO_CONTROLPLANE_DIR=$(CONTROLPLANE) tests/node/node.sh up $(NODE_STATE)

## node-down: stop it and leave nothing of it on the host (processes, mounts, bridge, iptables rule)
node-down:
	tests/node/node.sh down $(NODE_STATE)

## image: the operator's OCI image archive from the release binary, without Docker (target/image/);
## loaded into the node's containerd when `make node-up` runs
image:
	$(CARGO) build --release --bin securityhub-operator
	@mkdir -p $(dir $(IMAGE_ARCHIVE))
	python3 scripts/oci-image.py operator --binary target/release/securityhub-operator --name $(IMAGE) --out $(IMAGE_ARCHIVE)
	@if [ -f $(NODE_STATE)/env ]; then tests/node/node.sh import $(NODE_STATE) $(IMAGE_ARCHIVE); fi

## e2e: the chart installed on a node cluster of its own, the image built from the release binary (needs root)
e2e: CONTROLPLANE := $(node_dir)
e2e:
	$(CARGO) build --release --bin securityhub-operator
	SHO_CONTROLPLANE_DIR=$(CONTROLPLANE) SHO_IMAGE_BINARY=target/release/securityhub-operator \
	  $(CARGO) test --test node_e2e -- --nocapture

## lint: formatting, clippy with warnings as errors, and actionlint on .github/workflows
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	scripts/actionlint.sh

## controlplane: build (or find cached) etcd, kube-apiserver, kubectl, helm
controlplane:
	tests/controlplane/build.sh

## chaos: the long fault scenarios (CHAOS_FULL=1, fixed seeds, bounded) and their results table
chaos: CONTROLPLANE := $(controlplane_dir)
chaos:
	@mkdir -p target/tmp && rm -f target/tmp/chaos-table.md
	SHO_CONTROLPLANE_DIR=$(CONTROLPLANE) CHAOS_FULL=1 $(CARGO) test --test chaos --test chaos_controlplane --test ownership_model -- --test-threads=1; \
	  status=$$?; \
	  echo; echo "| Scenario | Mode | Members | Faults injected | Time to converge | Invariant violations |"; \
	  echo "|---|---|---|---|---|---|"; cat target/tmp/chaos-table.md; exit $$status

## bench: scale benchmark against the emulator (BENCH_QUICK=1: 500 members, a few minutes)
BENCH_QUICK ?=
BENCH_ARGS ?=
bench: CONTROLPLANE := $(controlplane_dir)
bench:
	$(CARGO) build --release --bins
	$(CARGO) build --example cluster
	python3 bench/bench.py --controlplane $(CONTROLPLANE) $(if $(BENCH_QUICK),--quick) \
	  --command "make bench$(if $(BENCH_QUICK), BENCH_QUICK=1)" $(BENCH_ARGS)
