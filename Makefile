# Cohort — developer entry points. `make test` is what CI runs.
GO        ?= go
PKGS      ?= ./...
# The full suite (real parameters) must stay well under CI's budget on 2 cores.
TEST_TIMEOUT ?= 40m
# What `cohort version` reports; the build info's own VCS stamp is used when
# the toolchain records one (GOFLAGS without -buildvcs=false).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build cohort test test-short test-postgres replica-run bench bench-report lint fmt vet demo fuzz-smoke clean generate proto-check

all: build

build:
	$(GO) build $(PKGS)

## cohort: the binary, stamped with its version and commit, as bin/cohort
cohort:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/cohort ./cmd/cohort

## test: every test, real parameters (what CI runs)
test:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## test-short: quick tier, toy sizes
test-short:
	$(GO) test -short -count=1 -timeout 15m $(PKGS)

## bench: benchmarks beside the code and in benchmarks/
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -timeout 60m $(PKGS)

## bench-report: the accuracy report of the discrete Gaussian release
## (benchmarks/report/accuracy.md, about a minute on 2 cores), then the
## performance report (benchmarks/REPORT.md and benchmarks/report/*.png: proving,
## verification, ingest, jobs, audit; about 5 minutes on 2 idle cores, 20 to 40 shared). Add the
## million-record job with BENCH_JOB_RECORDS=1000,10000,100000,1000000; rerun
## some figures only with e.g. BENCH_RUN=ingest (the others keep their last run).
BENCH_JOB_RECORDS ?= 1000,10000,100000
BENCH_RUN ?= prove,batch,ingest,job,audit
bench-report:
	$(GO) test -count=1 -timeout 15m -run '^TestAccuracyReport$$' ./benchmarks -report
	$(GO) test -count=1 -timeout 240m -v -run '^TestPerformanceReport$$' ./benchmarks -perf-report \
		-perf.job-records=$(BENCH_JOB_RECORDS) -perf.run=$(BENCH_RUN)

## lint: formatting and vet
lint: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## test-postgres: the store suite and the node tests that take it (replicas, the concurrent-duplicate race) against a throwaway PostgreSQL 15 (pg_virtualenv)
test-postgres:
	pg_virtualenv -t -v 15 sh -c 'export COHORT_TEST_POSTGRES_DSN="postgres://$$PGUSER:$$PGPASSWORD@$$PGHOST:$$PGPORT/$$PGDATABASE?sslmode=disable"; $(GO) test -count=1 -timeout 10m ./store/... && $(GO) test -count=1 -timeout 20m -run "TestReplica|Postgres" ./node/'

## replica-run: the operator's check of a replicated node (docs/operations.md §6):
## node 0 as two replicas on a throwaway PostgreSQL 15 behind HAProxy, nodes 1
## and 2, uploads, a job whose coordinating replica is killed, a second job and
## its audit; prints PASS or FAIL with the figures. Not part of `make test`;
## needs haproxy and pg_virtualenv (about 20 minutes on 2 busy cores, mostly the ceremony).
replica-run:
	pg_virtualenv -t -v 15 ./scripts/replica-run.sh

## fuzz-smoke: run every fuzz target briefly
fuzz-smoke:
	./scripts/fuzz-smoke.sh 10s

## demo: the main job end to end on the embedded default
demo:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/cohort demo

## generate: regenerate gen/ from proto/ (pinned plugins, installed if missing)
generate:
	./scripts/proto-gen.sh

## proto-check: fail if gen/ drifted from proto/; buf lint when buf is installed
proto-check:
	./scripts/proto-check.sh

clean:
	$(GO) clean -testcache
