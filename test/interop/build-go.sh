#!/usr/bin/env sh
# Builds the Go reference peer (test/interop/go) into .tmp/interop/ttrpc-peer, offline, in GOPATH
# mode against Debian's packaged sources:
#   apt-get install golang-go golang-github-containerd-ttrpc-dev golang-github-gogo-protobuf-dev
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT_DIR="$ROOT/.tmp/interop"
OUT="$OUT_DIR/ttrpc-peer"
DEBIAN_GOPATH=/usr/share/gocode

if ! command -v go >/dev/null 2>&1; then
  echo "build-go.sh: 'go' not found; install golang-go (apt-get install golang-go)" >&2
  exit 2
fi
for pkg in github.com/containerd/ttrpc github.com/gogo/protobuf/proto google.golang.org/grpc/status; do
  if [ ! -d "$DEBIAN_GOPATH/src/$pkg" ]; then
    echo "build-go.sh: $DEBIAN_GOPATH/src/$pkg missing; install golang-github-containerd-ttrpc-dev and golang-github-gogo-protobuf-dev" >&2
    exit 3
  fi
done

mkdir -p "$OUT_DIR/gopath/src"
# Our program lives in its own GOPATH entry so it can never shadow or be shadowed by Debian's tree.
rm -rf "$OUT_DIR/gopath/src/ttrpc-peer"
mkdir -p "$OUT_DIR/gopath/src/ttrpc-peer"
cp "$ROOT"/test/interop/go/*.go "$OUT_DIR/gopath/src/ttrpc-peer/"

# A user-level build cache keeps rebuilds to a second; fall back to a project-local one if HOME has none.
if [ -z "${GOCACHE:-}" ] && [ "$(go env GOCACHE 2>/dev/null || echo off)" = off ]; then
  export GOCACHE="$OUT_DIR/gocache"
fi

cd "$OUT_DIR/gopath/src/ttrpc-peer"
GO111MODULE=off GOPATH="$OUT_DIR/gopath:$DEBIAN_GOPATH" GOPROXY=off GOFLAGS= go build -o "$OUT" .
echo "build-go.sh: built $OUT ($(go version))"
