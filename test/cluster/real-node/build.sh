#!/usr/bin/env bash
# Builds the real node's Go binaries once, into the test cluster's cache (ADR 0012):
#   kubelet, kube-proxy  from k8s.io/kubernetes at $K8S_VERSION, the same wrapper module and
#                        replaces as ../build.sh uses for the control plane;
#   pause, app           our own tiny static programs (images/pause, images/app).
# Prints the bin directory on stdout. Nothing is downloaded except through the Go module proxy.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../versions.env
source "$here/../versions.env"

cache_root=${LOC_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loc-test-cluster}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
log() { printf '[real-node-build] %s\n' "$*" >&2; }

node_dir="$cache_root/k8s-node-$K8S_VERSION"
# Our programs are keyed by their source, so an edit rebuilds them.
progs_hash=$(cat "$here"/images/pause/*.go "$here"/images/app/*.go | sha256sum | cut -c1-12)
progs_dir="$cache_root/real-node-progs-$progs_hash"

build_node() {
  local work="$node_dir/src" minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  mkdir -p "$work" && cd "$work"
  log "kubernetes $K8S_VERSION: resolving staging modules"
  local modfile
  modfile=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module loc.test/k8s-node-build"
    echo "go 1.26"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$modfile" |
      while read -r m; do echo "  $m => $m v0.$minor.${K8S_VERSION##*.}"; done
    echo ")"
  } > go.mod
  printf 'package main\nimport (\n\t_ "k8s.io/kubernetes/cmd/kubelet/app"\n\t_ "k8s.io/kubernetes/cmd/kube-proxy/app"\n)\nfunc main() {}\n' > tools.go
  go mod tidy >&2
  local v="k8s.io/component-base/version"
  local ldflags="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
  ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  log "kubernetes $K8S_VERSION: compiling kubelet and kube-proxy"
  go build -trimpath -ldflags "$ldflags" -o "$node_dir/bin/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy >&2
}

build_progs() {
  mkdir -p "$progs_dir/bin"
  local prog
  for prog in pause app; do
    (cd "$here/images/$prog" && go build -trimpath -ldflags "-s -w" -o "$progs_dir/bin/$prog" .) >&2
  done
}

once() {
  if [[ -f "$1/.complete" ]]; then return 0; fi
  command -v go >/dev/null || { log "go not found: install Go >= 1.26 to build the real node"; exit 1; }
  local started=$SECONDS
  ( "$2" )
  touch "$1/.complete"
  log "$(basename "$1") built in $((SECONDS - started)) s"
}

once "$node_dir" build_node
once "$progs_dir" build_progs

bin="$cache_root/real-node-bin-$K8S_VERSION-$progs_hash"
mkdir -p "$bin"
for f in "$node_dir"/bin/* "$progs_dir"/bin/*; do ln -sf "$f" "$bin/"; done
echo "$bin"
