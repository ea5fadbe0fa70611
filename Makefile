# Developer entry points. `make run` shows the project on a local control plane;
# `make test` is what CI runs (through .ci/run).

CARGO ?= cargo
STATE := target/cluster
CRD_FILE := crds/securityhub.operator.dev_securityhubmembers.yaml
# The control-plane binaries: $SHO_CONTROLPLANE_DIR, else what build.sh prints (it builds
# only what its cache lacks). Expanded only by the recipes that need it.
controlplane_dir = $(or $(SHO_CONTROLPLANE_DIR),$(shell tests/controlplane/build.sh))
KUBECTL = $(CONTROLPLANE)/kubectl --kubeconfig $(STATE)/kubeconfig
CLUSTER = $(CARGO) run -q --example cluster -- --state-dir $(STATE)

.PHONY: all build run test test-chart crds crds-check cluster-up cluster-down lint controlplane pytest chaos bench

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

## lint: formatting and clippy with warnings as errors
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

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
