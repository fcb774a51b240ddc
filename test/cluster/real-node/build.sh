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

log() { printf '[real-node-build] %s\n' "$*" >&2; }
# shellcheck source=../go-build.sh
source "$here/../go-build.sh"

node_dir="$cache_root/k8s-node-$K8S_VERSION"
# Our programs are keyed by their source, so an edit rebuilds them.
progs_hash=$(cat "$here"/images/pause/*.go "$here"/images/app/*.go | sha256sum | cut -c1-12)
progs_dir="$cache_root/real-node-progs-$progs_hash"

build_node() {
  build_k8s_commands "$node_dir" loc.test/k8s-node-build "k8s.io/kubernetes/cmd/kubelet/app k8s.io/kubernetes/cmd/kube-proxy/app" \
    kubelet kube-proxy
}

build_progs() {
  mkdir -p "$progs_dir/bin"
  local prog
  for prog in pause app; do
    (cd "$here/images/$prog" && go build -trimpath -ldflags "-s -w" -o "$progs_dir/bin/$prog" .) >&2
  done
}

once "$node_dir" build_node "the real node"
once "$progs_dir" build_progs "the real node"

bin="$cache_root/real-node-bin-$K8S_VERSION-$progs_hash"
mkdir -p "$bin"
for f in "$node_dir"/bin/* "$progs_dir"/bin/*; do ln -sf "$f" "$bin/"; done
echo "$bin"
