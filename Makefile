# burrow — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

# Installs: Deno from the npm registry (tools/deno.sh, `npm install deno@2.9.6` into .tools/),
# Debian packages with apt-get update + install when their commands are missing (tools/apt-ensure.sh).
TOOLS := tools/deno.sh
DENO := .tools/bin/deno
# Debian packages the tests drive as real peers: command -> package (a .so name is a library
# the device loads: libsodium for the native transport AEAD).
TEST_PACKAGES := wireguard-go:wireguard-go wg:wireguard-tools iperf3:iperf3 ip:iproute2 nft:nftables \
	ping:iputils-ping curl:curl socat:socat pebble:pebble nginx:nginx pkill:procps \
	openssl:openssl libsodium.so.23:libsodium23 dnsmasq:dnsmasq dig:bind9-dnsutils \
	conntrack:conntrack
BENCH_PACKAGES := $(TEST_PACKAGES) wrk:wrk sshd:openssh-server ssh:openssh-client

.PHONY: help deno deps test-deps bench-deps check test bench run build clean

help:
	@echo "make run    start a local hub and an agent connected to it (root)"
	@echo "make test   format, lint, type-check and run every test (installs what it needs)"
	@echo "make bench  benchmarks against reference implementations"
	@echo "make build  compile dist/burrow with deno compile (needs a denort, see README)"

deno:
	@. $(TOOLS) && burrow_ensure_deno

# Fetches every module (Workers too) so burrow runs offline, e.g. inside a namespace.
deps: deno
	@. $(TOOLS) && burrow_ensure_deps && burrow_ensure_deps $(wildcard tests/*/*.ts tests/*/*/*.ts)

test-deps:
	@tools/apt-ensure.sh $(TEST_PACKAGES)

bench-deps:
	@tools/apt-ensure.sh $(BENCH_PACKAGES)

check: deps
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check main.ts src tests

# Tests run with --allow-all: Deno grants /dev/net/tun and other device files only under it.
test: check test-deps
	@. $(TOOLS) && "$$BURROW_DENO" test --allow-all --unstable-net tests/ 2>&1 | tee .tools/test.log
	@tools/test-summary.sh .tools/test.log

# Micro benchmarks use Deno.bench; the others are scripts that start their own peers.
bench: deps bench-deps
	@. $(TOOLS) && for b in $$(find tests -name '*_bench.ts' | sort); do \
		echo "== $$b"; \
		if grep -q 'Deno.bench(' "$$b"; then "$$BURROW_DENO" bench --allow-all "$$b"; \
		else "$$BURROW_DENO" run --allow-all --unstable-net "$$b"; fi; done

run: deps
	@tools/run-local.sh

# deno compile fetches a denort runtime; DENORT_BIN points at a local one instead.
build: deps
	@tools/build.sh

clean:
	rm -rf dist .tools
