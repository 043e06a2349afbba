# Phoenix harness: two commands.
#   make run    set up, then run the experiment suite (experiments/) on the local backend with its report
#   make test   set up, then run the harness's own tests (unit, plugin, end-to-end, Go processors)
# Every target does the set-up it needs and is idempotent.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GO_COMPONENTS := $(wildcard otel-configs/components/*/go.mod)

.PHONY: setup deps prometheus browser collector kube-cluster kube-node-deps docker-engine docker-engine-up \
	docker-engine-down run test test-python test-experiments test-go report lint clean

setup: deps prometheus collector

deps: $(VENV)/.deps-stamp

$(VENV)/.deps-stamp: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[all,dev]'
	@touch $@

prometheus:
	@command -v prometheus >/dev/null 2>&1 || [ -n "$$PHOENIX_PROMETHEUS" ] || { \
	  echo "installing Prometheus from Debian's packages"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

browser:
	@command -v chromium >/dev/null 2>&1 || [ -n "$$PHOENIX_CHROMIUM" ] || { \
	  echo "installing Chromium from Debian's packages (headless check of the HTML report)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

collector: deps
	@$(BIN)/phoenix toolchain build

# The Kubernetes tests' control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) and the kubelet of
# its real node, built with Go
# from otel-configs/kube/cluster and cached in ~/.cache/phoenix-harness/kube/<hash>/ (first build: minutes).
kube-cluster: deps kube-node-deps
	@$(BIN)/python -m phoenix_harness.backends.kubernetes.cluster build

# The docker backend's private engine: installs Debian's docker.io when missing, builds the collector and
# Prometheus images from what 'make setup' produced (no registry), stops the engine again (phoenix_harness/
# backends/docker_engine.py). 'docker-engine-up' keeps it running until Ctrl-C; 'docker-engine-down' cleans up
# what a killed run left (the next start does it too).
docker-engine: setup
	@$(BIN)/python -m phoenix_harness.backends.docker.engine prepare

docker-engine-up: setup
	@$(BIN)/python -m phoenix_harness.backends.docker.engine up

docker-engine-down: deps
	@$(BIN)/python -m phoenix_harness.backends.docker.engine down

# The test cluster's real node: the kubelet (built above) on a private instance of Debian's containerd + runc,
# pod networking from Debian's CNI plugins. Nothing is started here; the tests start and stop the node.
kube-node-deps:
	@{ command -v containerd && command -v runc && test -x /usr/lib/cni/bridge; } >/dev/null 2>&1 || { \
	  echo "installing containerd, runc and the CNI plugins from Debian's packages (the test cluster's real node)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    containerd runc containernetworking-plugins >/dev/null; }

run: setup
	@$(BIN)/phoenix run; status=$$?; \
	  $(BIN)/phoenix report || echo "Allure HTML report skipped (see the error above); Allure results are in reports/allure-results, the dashboard in reports/dashboard"; \
	  $(BIN)/phoenix gate reports || true; exit $$status

test: setup test-go test-python test-experiments

test-python: deps browser kube-cluster docker-engine
	@$(BIN)/pytest tests

# The shipped experiment suite, as written, into a reports folder of its own: every experiment must end with
# the verdict its expectations (derived from each load's ground truth) promise, and the gate must open.
test-experiments: setup
	@d=$$(mktemp -d); PHOENIX_REPORTS_DIR=$$d $(BIN)/pytest experiments -p no:cacheprovider && \
	  $(BIN)/phoenix gate $$d; status=$$?; rm -rf $$d; exit $$status

# Every Go module under otel-configs/components (the processors and their shared processstate module), with the
# race detector (it needs cgo).
test-go:
	@for mod in $(GO_COMPONENTS); do \
	  dir=$$(dirname $$mod); echo "go test -race $$dir"; \
	  (cd $$dir && CGO_ENABLED=1 go test -race -count=1 ./...) || exit 1; \
	done

report: deps
	@$(BIN)/phoenix report

lint: deps
	@$(BIN)/ruff check phoenix_harness tests plugins experiments conftest.py
	@$(BIN)/mypy

clean:
	rm -rf reports/allure-results reports/allure-report reports/runs reports/status reports/promotion.json
