#!/usr/bin/env bash
# Builds the test cluster's binaries from Go modules, once, into a cache outside the repo:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes),
#   etcd (go.etcd.io/etcd/server/v3), kwok and kwokctl (sigs.k8s.io/kwok).
# Prints the bin directory on stdout. Nothing is downloaded except through the Go module proxy.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$here/versions.env"

cache_root=${LOC_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loc-test-cluster}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
log() { printf '[cluster-build] %s\n' "$*" >&2; }

# build_into DIR NAME... : runs the given build function only when DIR lacks a complete marker.
k8s_dir="$cache_root/k8s-$K8S_VERSION"
etcd_dir="$cache_root/etcd-$ETCD_VERSION"
kwok_dir="$cache_root/kwok-$KWOK_VERSION"

build_k8s() {
  local work="$k8s_dir/src" minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  mkdir -p "$work" && cd "$work"
  log "kubernetes $K8S_VERSION: resolving staging modules"
  local modfile
  modfile=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module loc.test/k8s-build"
    echo "go 1.26"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo "replace ("
    # Each staging module is required as v0.0.0 and replaced by ./staging/...; point it at v0.Y.Z.
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$modfile" |
      while read -r m; do echo "  $m => $m v0.$minor.${K8S_VERSION##*.}"; done
    echo ")"
  } > go.mod
  printf 'package main\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n)\nfunc main() {}\n' > tools.go
  go mod tidy >&2
  local v="k8s.io/component-base/version"
  local ldflags="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
  ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  log "kubernetes $K8S_VERSION: compiling (the cold build takes a while on 2 cores)"
  go build -trimpath -ldflags "$ldflags" -o "$k8s_dir/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl >&2
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

# once DIR FN: builds unless DIR/.complete exists; a failed build leaves no marker.
once() {
  if [[ -f "$1/.complete" ]]; then return 0; fi
  # Go is needed only to build: a warm cache works without it.
  command -v go >/dev/null || { log "go not found: install Go >= 1.26 to build the test cluster"; exit 1; }
  local started=$SECONDS
  ( "$2" )
  touch "$1/.complete"
  log "$(basename "$1") built in $((SECONDS - started)) s"
}

once "$etcd_dir" build_etcd
once "$kwok_dir" build_kwok
once "$k8s_dir" build_k8s

bin="$cache_root/bin-$K8S_VERSION-$ETCD_VERSION-$KWOK_VERSION"
mkdir -p "$bin"
for f in "$k8s_dir"/bin/* "$etcd_dir"/bin/* "$kwok_dir"/bin/*; do ln -sf "$f" "$bin/"; done
echo "$bin"
