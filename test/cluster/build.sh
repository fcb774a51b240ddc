#!/usr/bin/env bash
# Builds the test cluster's binaries from Go modules, once, into a cache outside the repo:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes),
#   etcd (go.etcd.io/etcd/server/v3), kwok and kwokctl (sigs.k8s.io/kwok).
# Prints the bin directory on stdout. Nothing is downloaded except through the Go module proxy.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$here/versions.env"

log() { printf '[cluster-build] %s\n' "$*" >&2; }
# shellcheck source-path=SCRIPTDIR source=go-build.sh
source "$here/go-build.sh"

k8s_dir="$cache_root/k8s-$K8S_VERSION"
etcd_dir="$cache_root/etcd-$ETCD_VERSION"
kwok_dir="$cache_root/kwok-$KWOK_VERSION"

build_k8s() {
  build_k8s_commands "$k8s_dir" loc.test/k8s-build k8s.io/kubernetes/cmd/kube-apiserver/app \
    kube-apiserver kube-controller-manager kube-scheduler kubectl
}

build_etcd() {
  local work="$etcd_dir/src"
  mkdir -p "$work" && cd "$work"
  log "etcd $ETCD_VERSION: compiling"
  # etcd's go.mod requires its sibling modules at matching tags (its ../ replaces only apply
  # inside etcd's own repo), so a plain require resolves them.
  printf 'module loc.test/etcd-build\ngo 1.26\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > go.mod
  printf 'package main\nimport _ "go.etcd.io/etcd/server/v3/etcdmain"\nfunc main() {}\n' > tools.go
  go mod tidy >&2
  go build -trimpath -ldflags "-s -w" -o "$etcd_dir/bin/etcd" go.etcd.io/etcd/server/v3 >&2
}

build_kwok() {
  log "kwok $KWOK_VERSION: compiling"
  mkdir -p "$kwok_dir/bin"
  GOBIN="$kwok_dir/bin" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION" >&2
}

once "$etcd_dir" build_etcd "the test cluster"
once "$kwok_dir" build_kwok "the test cluster"
once "$k8s_dir" build_k8s "the test cluster"

bin="$cache_root/bin-$K8S_VERSION-$ETCD_VERSION-$KWOK_VERSION"
mkdir -p "$bin"
for f in "$k8s_dir"/bin/* "$etcd_dir"/bin/* "$kwok_dir"/bin/*; do ln -sf "$f" "$bin/"; done
echo "$bin"
