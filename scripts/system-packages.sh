#!/usr/bin/env bash
# The Debian packages the tests need besides Python's: headless Chromium (the HTML report's browser tests)
# and Go with the libraries of the Go example (built from Debian's gocode in GOPATH mode). Run as root, or
# with sudo available.
set -euo pipefail
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium golang-go golang-google-grpc-dev \
  golang-github-aws-aws-sdk-go-dev golang-github-golang-protobuf-1-5-dev golang-google-protobuf-dev protoc-gen-go \
  protoc-gen-go-grpc protobuf-compiler >/dev/null
chromium --version
go version
