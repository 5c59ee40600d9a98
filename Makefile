# trainkit.aws - the two commands a new user runs:  make demo  and  make test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
COLLECTION_LINK := .tmp/collections/ansible_collections/trainkit/aws
INVENTORY ?= inventories/local
PYTEST_ARGS ?=

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help venv link demo down test unit integration sanity lint build clean

help:
	@echo "make demo    - identity, network and local Kubernetes of the demo cluster (local AWS endpoint)"
	@echo "make down    - stop the local AWS endpoint and the local Kubernetes the demo started"
	@echo "make test    - unit and integration tests, ansible-test sanity and ansible-lint"
	@echo "make build   - build the collection tarball"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt test-requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r test-requirements.txt
	touch $@

link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn ../../../.. $(COLLECTION_LINK)

demo: venv link
	@url=$$(tools/local-aws start | tail -n 1) && \
	echo "Local AWS endpoint: $$url" && \
	AWS_ENDPOINT_URL=$$url $(BIN)/ansible-playbook -i $(INVENTORY) site.yml && \
	echo "Run it again: nothing changes. Stop the local AWS endpoint and Kubernetes with: make down"

down:
	@tools/local-k8s stop
	@tools/local-aws stop

test: venv link sanity lint unit integration

unit: venv link
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

integration: venv link
	$(BIN)/pytest -q -n 2 tests/integration $(PYTEST_ARGS)

sanity: venv
	tests/harness/sanity.sh

lint: venv link
	$(BIN)/black --check --quiet --line-length 120 plugins tools/local_aws.py tools/local_k8s.py tests
	$(BIN)/ansible-lint --profile production --offline

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path .tmp/dist

clean: down
	rm -rf .tmp $(VENV)
