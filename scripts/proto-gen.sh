#!/usr/bin/env bash
# Generates Go code from proto/cohort/v1 into DEST/gen/cohort/v1 (DEST
# defaults to the repository root), with the pinned plugins, installing them
# into $(go env GOPATH)/bin when they are missing or another version.
# Uses buf when it is on PATH, else protoc; both give the same code.
# Usage: scripts/proto-gen.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dest=${1:-$root}

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
PROTOC_GEN_OPENAPIV2_VERSION=v2.34.0
# The public services: the OpenAPI description covers these only.
public_protos="cohort/v1/admin_service.proto cohort/v1/audit_service.proto cohort/v1/buyer_service.proto cohort/v1/contributor_service.proto"

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"

# ensure NAME WANT-OUTPUT MODULE@VERSION
ensure() {
  if [ "$("$1" --version 2>/dev/null || true)" != "$2" ]; then
    echo "installing $3" >&2
    GOBIN="$gobin" go install "$3"
  fi
}
ensure protoc-gen-go "protoc-gen-go $PROTOC_GEN_GO_VERSION" \
  "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
ensure protoc-gen-go-grpc "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}" \
  "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
ensure protoc-gen-openapiv2 "Version $PROTOC_GEN_OPENAPIV2_VERSION, commit unknown, built at unknown" \
  "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$PROTOC_GEN_OPENAPIV2_VERSION"

out="$dest/gen/cohort/v1"
mkdir -p "$out"
# Remove stale generated files (a deleted .proto must not leave its code).
find "$out" -maxdepth 1 -name '*.pb.go' -delete
mkdir -p "$dest/gen/openapi"
rm -f "$dest/gen/openapi/cohort.swagger.yaml"

if [ "${PROTO_GEN_TOOL:-}" != protoc ] && command -v buf >/dev/null 2>&1; then
  # buf.gen.yaml writes to ../gen, relative to the output base.
  mkdir -p "$dest/proto"
  (cd proto && buf generate --output "$dest/proto")
  paths=()
  for p in $public_protos; do paths+=(--path "$p"); done
  (cd proto && buf generate --template buf.gen.openapi.yaml --output "$dest/proto" "${paths[@]}")
elif command -v protoc >/dev/null 2>&1; then
  protoc -I proto \
    --go_out="$dest/gen" --go_opt=paths=source_relative \
    --go-grpc_out="$dest/gen" --go-grpc_opt=paths=source_relative \
    proto/cohort/v1/*.proto
  (cd proto && protoc -I . --openapiv2_out="$dest/gen/openapi" \
    --openapiv2_opt=allow_merge=true,merge_file_name=cohort,grpc_api_configuration=cohort/v1/http.yaml,output_format=yaml \
    $public_protos)
else
  echo "proto-gen: neither buf nor protoc found; install buf (go install github.com/bufbuild/buf/cmd/buf@v1.75.0) or protoc (apt-get install protobuf-compiler)" >&2
  exit 1
fi
