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

.PHONY: all build run test crds crds-check cluster-up cluster-down lint controlplane pytest bench

all: build

## build: the operator binary and the cluster example
build:
	$(CARGO) build --bins --examples

## run: a local control plane with the CRD and the samples applied
run: CONTROLPLANE := $(controlplane_dir)
run: build cluster-up
	$(KUBECTL) apply -f crds/
	$(KUBECTL) wait --for condition=Established --timeout=60s -f crds/
	$(KUBECTL) apply -k deploy/samples/
	$(KUBECTL) get shm -A
	@echo
	@echo "Control plane running: export KUBECONFIG=$(CURDIR)/$(STATE)/kubeconfig"
	@echo "kubectl is $(CONTROLPLANE)/kubectl. Stop everything with: make cluster-down"

## test: lint, check the committed CRD, all cargo tests, the emulator's boto3 tests
test: CONTROLPLANE := $(controlplane_dir)
test: lint crds-check
	SHO_CONTROLPLANE_DIR=$(CONTROLPLANE) $(CARGO) test
	@if [ -d tests/emulator_boto3 ]; then $(MAKE) --no-print-directory pytest; fi

pytest:
	python3 -m pytest tests/emulator_boto3 -q

## crds: regenerate the committed CRD from the Rust types
crds:
	$(CARGO) run -q -- crd > $(CRD_FILE).tmp && mv $(CRD_FILE).tmp $(CRD_FILE)

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

## bench: scale benchmark against the emulator (BENCH_QUICK=1: 500 members, a few minutes)
BENCH_QUICK ?=
BENCH_ARGS ?=
bench: CONTROLPLANE := $(controlplane_dir)
bench:
	$(CARGO) build --release --bins
	$(CARGO) build --example cluster
	python3 bench/bench.py --controlplane $(CONTROLPLANE) $(if $(BENCH_QUICK),--quick) \
	  --command "make bench$(if $(BENCH_QUICK), BENCH_QUICK=1)" $(BENCH_ARGS)
