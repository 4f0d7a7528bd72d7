#!/usr/bin/env bash
# Builds the Go example service into OUT (default ./bin/suppression-go) in GOPATH mode against Debian's
# Go packages (/usr/share/gocode): the gRPC stubs are generated from the Python example's proto, so both
# services speak one API. Needs: golang-go, golang-google-grpc-dev, golang-github-aws-aws-sdk-go-dev,
# golang-github-golang-protobuf-1-5-dev, golang-google-protobuf-dev, protoc-gen-go, protoc-gen-go-grpc,
# protobuf-compiler.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/bin/suppression-go}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
# One build at a time per output (pytest-xdist workers each run the build step; the later ones find the
# binary up to date).
exec 9>"$out.lock"
flock 9
proto_dir="$root/src/example_service/proto"
# Up to date: nothing newer than the binary among its sources, the proto and this script.
if [ -x "$out" ] && [ -z "$(find "$here"/*.go "$proto_dir" "$0" -newer "$out" -print -quit)" ]; then
  exit 0
fi
# A fixed GOPATH beside the output, so Go's build cache (keyed by package path) serves the next build.
gopath=$out.gopath
pkg=$gopath/src/dualmode.example/gosvc
rm -rf "$pkg"
mkdir -p "$pkg/suppressionpb"
cp "$here"/*.go "$pkg/"
proto=suppression/v1/suppression.proto
protoc -I "$proto_dir" -I /usr/include \
  --go_out="$pkg/suppressionpb" --go_opt=paths=source_relative \
  --go_opt="M$proto=dualmode.example/gosvc/suppressionpb" \
  --go-grpc_out="$pkg/suppressionpb" --go-grpc_opt=paths=source_relative \
  --go-grpc_opt="M$proto=dualmode.example/gosvc/suppressionpb" \
  "$proto"
mv "$pkg/suppressionpb/suppression/v1/"*.go "$pkg/suppressionpb/"
rm -rf "$pkg/suppressionpb/suppression"
cd "$pkg"
GOPATH="$gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS= GOPROXY=off go build -o "$out.tmp" .
mv "$out.tmp" "$out"
