# gostack: common tasks. The logic lives in scripts/ so that a machine without make can
# run it too; see README.md.

SHELL := /bin/bash
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
export PATH := $(PATH):$(dir $(GO))

.PHONY: all up build test unit blackbox race lint fmt bench conformance \
	conformance-tempest conformance-gophercloud test-postgres deps clean

all: build

## up: install dependencies, build and run the cloud in the foreground (ARGS="--listen ...")
up:
	./scripts/up $(ARGS)

## build: build bin/gostack
build:
	$(GO) build -o bin/gostack ./cmd/gostack

## deps: install Debian packages (as root), Go if missing, and Go modules
deps:
	./scripts/deps

## test: everything CI runs (deps, gofmt, vet, unit, black-box suites, race)
test:
	./scripts/test

## unit: unit tests only (no binary, no CLI)
unit:
	$(GO) test -short $$($(GO) list ./... | grep -v /test/)

## blackbox: the black-box suites against bin/gostack (openstack CLI, gophercloud)
blackbox: build
	GOSTACK_BIN=$(CURDIR)/bin/gostack $(GO) test -count=1 ./test/...

## race: unit tests under the race detector
race:
	$(GO) test -race ./internal/...

## lint: go vet and staticcheck (pinned, installed into bin/tools)
lint:
	./scripts/lint

## fmt: gofmt every Go file
fmt:
	find . -name '*.go' -not -path './.git/*' -not -path './bin/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -w

## bench: benchmarks (BENCH=regex, default all)
bench:
	$(GO) test -run '^$$' -bench '$(or $(BENCH),.)' -benchmem ./...

## conformance: tempest identity tests and gophercloud's identity acceptance tests
conformance: conformance-gophercloud conformance-tempest

conformance-tempest: build
	./scripts/conformance/tempest.sh

conformance-gophercloud: build
	./scripts/conformance/gophercloud.sh

## test-postgres: the store tests on PostgreSQL too (throw-away cluster when root)
test-postgres:
	./scripts/test-postgres

clean:
	rm -rf bin

## help: list the targets
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

.PHONY: testvm test-guestimage

## testvm: build (or reuse from the cache) the test guest image; prints the qcow2's path
testvm:
	./images/testvm/build.sh

## test-guestimage: boot the test guest under QEMU/TCG (config drive, metadata service, ssh)
test-guestimage:
	$(GO) test -count=1 -v ./test/guestimage
