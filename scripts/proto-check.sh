#!/usr/bin/env bash
# Checks that the committed generated code under gen/ is what the .proto
# files generate (fails on drift), and lints the protos with buf when buf is
# on PATH. With PROTO_BREAKING_AGAINST set (for example
# '.git#branch=main,subdir=proto'), also checks for breaking changes.
# Usage: scripts/proto-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

scripts/proto-gen.sh "$tmp"

# The generated headers name the protoc version ("(unknown)" under buf), so
# those lines are ignored; everything else, plugin versions included, must
# match. Hand-written files beside the generated code (doc.go, tests) are not compared.
if ! diff -ru -x '*_test.go' -x doc.go -I '^//[[:space:]]*-\?[[:space:]]*protoc[[:space:]]' \
  gen/cohort/v1 "$tmp/gen/cohort/v1" || ! diff -u gen/openapi/cohort.swagger.yaml "$tmp/gen/openapi/cohort.swagger.yaml"; then
  echo "proto-check: gen/ is out of date with proto/: run 'make generate' and commit the result" >&2
  exit 1
fi
echo "proto-check: generated code is up to date"

if command -v buf >/dev/null 2>&1; then
  (cd proto && buf lint)
  echo "proto-check: buf lint passed"
  if [ -n "${PROTO_BREAKING_AGAINST:-}" ]; then
    buf breaking proto --against "$PROTO_BREAKING_AGAINST"
    echo "proto-check: no breaking changes against $PROTO_BREAKING_AGAINST"
  fi
else
  echo "proto-check: buf not on PATH; lint skipped (go install github.com/bufbuild/buf/cmd/buf@v1.75.0)"
fi
