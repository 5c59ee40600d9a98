# trainkit.aws - the two commands a new user runs:  make demo  and  make test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
COLLECTION_LINK := .tmp/collections/ansible_collections/trainkit/aws
INVENTORY ?= inventories/local
PYTEST_ARGS ?=
# Integration tests run on this many pytest-xdist workers, their tests shared out by tests/harness/scheduling.py
# (xdist_group groups kept together, the longest first). Much of a worker's time is waiting (AWS life cycles,
# eksctl, backoff), so more workers than cores pay off: 4 measured best on the 2-core CI machine (docs/development.md).
WORKERS ?= 4
INTEGRATION_ARGS := -q -n $(WORKERS) --dist loadgroup tests/integration
INTEGRATION := $(BIN)/pytest $(INTEGRATION_ARGS)
# The cluster provider `make demo` builds for: the inventory's own unless given (make demo PROVIDER=eksctl)
PROVIDER ?= $(shell sed -n 's/^trainkit_cluster_provider: *//p' $(INVENTORY)/group_vars/all.yml 2>/dev/null | tr -d '"' | head -n1)
# The training environment the local cluster's pods run in (PaddlePaddle; PyTorch too for the tests): heavy, so
# it lives in the user's cache, built once and shared by every checkout.
CACHE_DIR := $(or $(TRAINKIT_CACHE_DIR),$(HOME)/.cache/trainkit)
TRAIN_ENV ?= $(CACHE_DIR)/train-env
TRAIN_PYTHON := $(TRAIN_ENV)/bin/python
# The aws CLI that EKS kubeconfigs run (aws eks get-token): a virtualenv of its own, since awscli pins its botocore.
AWSCLI_ENV ?= $(CACHE_DIR)/awscli
# Prowler, the security scanner the tests run over what site.yml builds: a virtualenv of its own (it pins most of its
# dependencies, boto3 among them), keyed by its requirements file so that a new pin makes a new one.
PROWLER_ENV ?= $(CACHE_DIR)/prowler-$(shell sha256sum tests/requirements-prowler.txt | cut -c1-12)
export TRAINKIT_PROWLER := $(PROWLER_ENV)/bin/prowler

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export TRAINKIT_TRAIN_PYTHON := $(TRAIN_PYTHON)

.PHONY: bench help gpu-test gpu-wheels ee-wheels mpi-wheel venv train-env train-env-torch awscli prowler k8s-client-env k8s-clients binaries control-plane eksctl kube-aws demo-binaries node-tools nodes link demo down test check unit integration integration-fast durations throttled sanity lint build ee clean

help:
	@echo "make demo    - the whole pipeline locally: AWS (local endpoint), Kubernetes, data split, real training"
	@echo "make nodes   - (root) boot the SSH test bed, so that site.yml's nodes stage has nodes to set up"
	@echo "make down    - stop the local AWS endpoint, the local Kubernetes and the SSH test bed"
	@echo "make test    - unit and integration tests, ansible-test sanity and ansible-lint (what CI runs)"
	@echo "make check   - the inner loop: sanity, lint, unit and the integration tests not marked slow"
	@echo "make bench   - training-job benchmark on the local cluster (8, 64, 256 workers)"
	@echo "make build   - build the collection tarball"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt test-requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r test-requirements.txt
	touch $@

train-env: $(TRAIN_ENV)/.paddle-installed

$(TRAIN_ENV)/.paddle-installed: requirements-train.txt
	test -x $(TRAIN_PYTHON) || $(PYTHON) -m venv $(TRAIN_ENV)
	$(TRAIN_PYTHON) -m pip install --quiet --upgrade pip
	$(TRAIN_PYTHON) -m pip install --quiet -r requirements-train.txt
	touch $@

train-env-torch: $(TRAIN_ENV)/.torch-installed

$(TRAIN_ENV)/.torch-installed: tests/requirements-train-torch.txt $(TRAIN_ENV)/.paddle-installed
	$(TRAIN_PYTHON) -m pip install --quiet -r tests/requirements-train-torch.txt
	touch $@

prowler: $(PROWLER_ENV)/.installed

$(PROWLER_ENV)/.installed: tests/requirements-prowler.txt
	test -x $(PROWLER_ENV)/bin/python || $(PYTHON) -m venv $(PROWLER_ENV)
	$(PROWLER_ENV)/bin/python -m pip install --quiet --upgrade pip
	$(PROWLER_ENV)/bin/python -m pip install --quiet -r tests/requirements-prowler.txt
	touch $@

awscli: $(AWSCLI_ENV)/.installed

$(AWSCLI_ENV)/.installed:
	test -x $(AWSCLI_ENV)/bin/python || $(PYTHON) -m venv $(AWSCLI_ENV)
	$(AWSCLI_ENV)/bin/python -m pip install --quiet --upgrade pip
	$(AWSCLI_ENV)/bin/python -m pip install --quiet awscli
	touch $@

# The local binaries, built once into the cache from their Go modules, with their progress on the terminal:
# the control plane (kube-apiserver, etcd, kwok, ...) with the MPI operator, eksctl, and kube-aws when its source
# tarball is at hand.
binaries: control-plane eksctl kube-aws

control-plane: venv
	@tools/local-k8s build >/dev/null

eksctl: venv
	@tools/eksctl-build >/dev/null

kube-aws: venv
	@tools/kube-aws-build --if-source >/dev/null

# What `make demo` needs for its provider: the local one runs on the control plane alone (the MPI operator, which
# the add-ons install, is built with it); eksctl and kube-aws are built only for their own provider.
demo-binaries: control-plane $(if $(filter eksctl,$(PROVIDER)),eksctl awscli) $(if $(filter kube_aws,$(PROVIDER)),kube-aws)

# The SSH test bed's tools (tools/local-nodes, tests/integration/test_nodes.py), from Debian's packages when missing.
# Without them (or without root) those tests skip and say why.
NODE_TOOLS := debootstrap systemd-nspawn socat ssh gpg dpkg-scanpackages
node-tools:
	@missing=$$(for t in $(NODE_TOOLS); do command -v $$t >/dev/null || echo $$t; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing the SSH test bed's tools (missing: $$missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      debootstrap systemd-container socat openssh-client gnupg dpkg-dev >/dev/null; \
	  else echo "node-tools: missing $$missing - apt-get install debootstrap systemd-container socat openssh-client gnupg dpkg-dev"; fi; \
	fi

nodes: venv node-tools
	@tools/local-nodes start

link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn ../../../.. $(COLLECTION_LINK)

demo: venv link train-env demo-binaries
	@tools/local-aws start >/dev/null && eval "$$(tools/local-aws env)" && \
	echo "Local AWS endpoint: $$AWS_ENDPOINT_URL" && \
	$(BIN)/ansible-playbook -i $(INVENTORY) site.yml $(if $(PROVIDER),-e trainkit_cluster_provider=$(PROVIDER)) && \
	echo "Run it again: nothing changes. Stop the local AWS endpoint and Kubernetes with: make down"

# The local AWS endpoint keeps its state in memory, so once it stops the cluster's objects (volumes naming its file
# systems) would point at nothing: forget them too. Training outputs stay in $(CACHE_DIR)/local-k8s/volumes.
down:
	@tools/local-nodes stop
	@tools/local-k8s stop
	@tools/local-aws stop
	@rm -rf "$(CACHE_DIR)/local-k8s/etcd"

# The static checks and unit tests run beside the installs the integration lanes need (mostly downloads: the
# Prowler and oldest-client virtualenvs, the aws CLI, the training environment, the GPU lane's and the execution
# environment's wheels), then the GPU lane (every test skipped without a GPU) and the two integration lanes.
test: venv link
	@$(MAKE) --no-print-directory -j4 --output-sync=target sanity lint unit prowler k8s-client-env awscli train-env-torch gpu-wheels ee-wheels mpi-wheel
	@$(MAKE) --no-print-directory gpu-test
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory k8s-clients

# The inner loop (about 4 minutes warm): sanity, lint, unit and every integration test not marked slow (pytest.ini
# lists the markers), all at once - the fast integration tests leave a core idle part of the time. Each part's output
# comes when it ends.
check: venv link
	@$(MAKE) --no-print-directory -j4 --output-sync=target sanity lint unit integration-fast

unit: venv link
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

# The whole integration suite, then its 25 slowest tests (the last lines CI prints)
integration: venv link train-env-torch binaries awscli prowler node-tools gpu-wheels ee-wheels mpi-wheel
	$(INTEGRATION) --durations=25 $(PYTEST_ARGS)

integration-fast: venv link binaries awscli ee-wheels
	$(INTEGRATION) -m "not slow" $(PYTEST_ARGS)

# Record every integration test's duration in tests/durations.json, which orders the work longest first: run it
# (and commit the file) after adding slow tests
durations: venv link train-env-torch binaries awscli prowler node-tools gpu-wheels ee-wheels mpi-wheel
	$(INTEGRATION) --store-durations $(PYTEST_ARGS)

# The Kubernetes tests again with the oldest kubernetes client requirements.txt allows, in a virtualenv of its own
# (.tmp/k8s-client-<version>); the rest of make test runs with the newest, which a new .venv gets.
K8S_CLIENT_OLDEST := $(shell sed -n 's/^kubernetes>=\([0-9.]*\).*/\1/p' requirements.txt)
K8S_CLIENT_ENV := .tmp/k8s-client-$(K8S_CLIENT_OLDEST)
k8s-client-env: $(K8S_CLIENT_ENV)/.installed

$(K8S_CLIENT_ENV)/.installed: requirements.txt test-requirements.txt
	@test -x $(K8S_CLIENT_ENV)/bin/python || $(PYTHON) -m venv $(K8S_CLIENT_ENV)
	@$(K8S_CLIENT_ENV)/bin/python -m pip install --quiet -r requirements.txt -r test-requirements.txt \
		"kubernetes==$(K8S_CLIENT_OLDEST)"
	@touch $@

k8s-clients: venv link binaries k8s-client-env
	@echo "Kubernetes tests with kubernetes $(K8S_CLIENT_OLDEST) (the rest of the suite: \
	$$($(BIN)/python -c 'import kubernetes; print(kubernetes.__version__)'))"
	$(K8S_CLIENT_ENV)/bin/pytest $(INTEGRATION_ARGS) -m "k8s and not slow" $(PYTEST_ARGS)

# The GPU lane (tests/gpu): every test skips where nvidia-smi lists no GPU, so make test runs it everywhere. On a GPU
# machine it needs only python3 with torch (GPU_PYTHON) and, offline, the wheels gpu-wheels downloads into
# .tmp/gpu-wheels (docs/development.md, "The GPU lane").
gpu-test:
	tools/gpu-test $(PYTEST_ARGS)

# pytest and ansible-core (tests/gpu/requirements.txt) as wheels for Linux x86_64 and each of GPU_WHEEL_PYTHONS,
# downloaded again when the requirements change. The integration suite needs them too: it runs the lane's runner
# with a python like a GPU image's (tests/integration/test_gpu_lane_runner.py).
GPU_WHEEL_PYTHONS ?= 3.10 3.11 3.12 3.13
GPU_WHEEL_PLATFORMS := $(foreach p,manylinux_2_28 manylinux_2_17 manylinux2014 manylinux_2_5 manylinux1,--platform $(p)_x86_64)
gpu-wheels: .tmp/gpu-wheels/.downloaded

.tmp/gpu-wheels/.downloaded: tests/gpu/requirements.txt | venv
	@rm -rf .tmp/gpu-wheels  # only the versions wanted now: the directory travels to a GPU machine (64 MiB at most)
	@for version in $(GPU_WHEEL_PYTHONS); do \
		$(BIN)/python -m pip download --quiet --only-binary=:all: --python-version $$version $(GPU_WHEEL_PLATFORMS) \
			--dest .tmp/gpu-wheels -r tests/gpu/requirements.txt || exit 1; \
	done
	@touch $@
	@echo "gpu-wheels: $$(ls .tmp/gpu-wheels | wc -l) wheels in .tmp/gpu-wheels ($$(du -sh .tmp/gpu-wheels | cut -f1))"

# The execution environment's Python dependencies (requirements.txt and execution-environment.yml's ansible-core,
# ansible-runner and python entries), resolved together and downloaded as wheels, downloaded again when either file
# changes: test_execution_environment.py checks offline that what ansible-builder collects resolves with them (awscli
# pins its botocore, boto3 another range - pip's resolver takes minutes over them, here rather than in a test).
ee-wheels: .tmp/ee-wheels/.downloaded

.tmp/ee-wheels/.downloaded: requirements.txt execution-environment.yml | venv
	@rm -rf .tmp/ee-wheels && mkdir -p .tmp/ee-wheels
	@$(BIN)/python -c 'import yaml; d = yaml.safe_load(open("execution-environment.yml"))["dependencies"]; \
		print("\n".join([d["ansible_core"]["package_pip"], d["ansible_runner"]["package_pip"]] + d["python"]))' \
		> .tmp/ee-wheels/ee-requirements.txt
	@$(BIN)/python -m pip download --quiet --only-binary=:all: --dest .tmp/ee-wheels \
		-r requirements.txt -r .tmp/ee-wheels/ee-requirements.txt
	@touch $@

# The mpi4py wheel the MPI image's Dockerfile installs (its MPI4PY_VERSION), for CPython 3.13 (Debian trixie's, the SSH
# test bed's nodes): test_nodes.py builds the image's package set on a node, offline, from it.
MPI_DOCKERFILE := roles/training_job/files/images/mpich-python/Dockerfile
mpi-wheel: .tmp/mpi-wheel/.downloaded

.tmp/mpi-wheel/.downloaded: $(MPI_DOCKERFILE) | venv
	@rm -rf .tmp/mpi-wheel
	@$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.13 --dest .tmp/mpi-wheel \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_5_x86_64 \
		"mpi4py==$$(sed -n 's/^ARG MPI4PY_VERSION=//p' $(MPI_DOCKERFILE))"
	@touch $@

# The throttled lane alone: identity -> network -> storage -> teardown with 30% of requests throttled (also in make test)
throttled: venv link
	$(BIN)/pytest -q tests/integration/test_throttled.py $(PYTEST_ARGS)

sanity: venv
	tests/harness/sanity.sh

lint: venv link
	$(BIN)/black --check --quiet --line-length 120 plugins tools/*.py \
		roles/training_job/files bench tests
	$(BIN)/ansible-lint --profile production --offline

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path .tmp/dist

# The execution environment's build context (execution-environment.yml): the collection tarball and the eksctl and
# kube-aws binaries in build/ee, then ansible-builder create. Building the image needs podman or docker:
#   podman build -t trainkit-ee:0.1.0 build/ee/context
ee: venv binaries
	rm -rf build/ee && mkdir -p build/ee/bin
	$(BIN)/ansible-galaxy collection build --force --output-path build/ee .
	cp "$$(tools/eksctl-build 2>/dev/null | tail -n1)" "$$(tools/kube-aws-build 2>/dev/null | tail -n1)" build/ee/bin/
	$(BIN)/ansible-builder create --file execution-environment.yml --context build/ee/context

bench: venv link
	$(BIN)/python bench/aws_calls.py
	$(BIN)/python bench/training_jobs.py

clean: down
	rm -rf .tmp $(VENV)
