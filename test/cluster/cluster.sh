#!/usr/bin/env bash
# The e2e test cluster: a real control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) run as local processes by kwokctl, with one kwok-emulated node instead of a kubelet.
#
#   cluster.sh up          build if needed, reuse a healthy cluster or (re)create it; prints the kubeconfig path
#   cluster.sh down        delete the cluster (processes and etcd data)
#   cluster.sh status      exit 0 when the cluster is healthy, 1 otherwise (reason on stderr)
#   cluster.sh kubeconfig  print the kubeconfig path (the file exists only while the cluster does)
#   cluster.sh bin         print the directory with the cached binaries (kubectl, kwokctl, ...)
#
# Environment: LOC_CLUSTER_CACHE (default ~/.cache/loc-test-cluster), LOC_CLUSTER_NAME (default loc-e2e).
# Everything listens on 127.0.0.1 only; nothing is downloaded at run time.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$here/versions.env"

cache_root=${LOC_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loc-test-cluster}
name=${LOC_CLUSTER_NAME:-loc-e2e}
node=fake
# kwokctl keeps its clusters under $KWOK_WORKDIR/clusters/<name>; keep them in our cache, not ~/.kwok.
export KWOK_WORKDIR="$cache_root/kwok-home"
workdir="$KWOK_WORKDIR/clusters/$name"
kubeconfig="$workdir/kubeconfig.yaml"
log() { printf '[cluster] %s\n' "$*" >&2; }

bin_dir() {
  local bin
  if ! bin=$(bash "$here/build.sh"); then
    log "building the test cluster binaries failed (see the output above)."
    log "It needs Go >= 1.26 on PATH and access to the Go module proxy; the cache is $cache_root."
    exit 1
  fi
  echo "$bin"
}

# Our bin dir goes first on PATH: kwokctl runs `kubectl` from PATH (and would download one if
# none were found), and the cached kubectl matches the apiserver's version.
use_bin() { bin=$(bin_dir); export PATH="$bin:$PATH"; }

kc() { kubectl --kubeconfig "$kubeconfig" --request-timeout=10s "$@"; }

# A killed component whose parent (kwokctl, long gone) can't reap it lingers as a zombie, and
# kill -0 still succeeds on zombies where init doesn't reap (containers).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# Healthy = every component kwokctl started is alive, the apiserver is ready and the node is Ready.
healthy() {
  [[ -f "$kubeconfig" ]] || { log "no cluster $name"; return 1; }
  local pidfile pid
  for pidfile in "$workdir"/pids/*.pid; do
    [[ -e "$pidfile" ]] || { log "no component pids in $workdir/pids"; return 1; }
    pid=$(<"$pidfile")
    alive "$pid" || { log "$(basename "$pidfile" .pid) (pid $pid) is not running"; return 1; }
  done
  [[ "$(kc get --raw /readyz 2>/dev/null)" == ok ]] || { log "apiserver is not ready"; return 1; }
  local ready
  ready=$(kc get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  [[ "$ready" == True ]] || { log "node $node is not Ready"; return 1; }
}

create() {
  local started=$SECONDS
  mkdir -p "$KWOK_WORKDIR"
  local config="$KWOK_WORKDIR/$name.kwokctl.yaml" create_log="$KWOK_WORKDIR/$name.create.log"
  # bindAddress has no flag: without it etcd, apiserver, controllers and kwok listen on 0.0.0.0.
  cat > "$config" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  bindAddress: 127.0.0.1
EOF
  log "creating cluster $name (kubernetes $K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)"
  # KWOK_KUBE_VERSION only picks defaults that depend on the version; the binaries are given
  # explicitly and kwokctl reads their versions from `--version` (build.sh stamps them).
  # --kubeconfig '' keeps kwokctl away from ~/.kube/config; it still writes $workdir/kubeconfig.yaml.
  if ! KWOK_KUBE_VERSION=$K8S_VERSION kwokctl create cluster --name "$name" -c "$config" \
      --runtime binary --kubeconfig '' --quiet-pull \
      --etcd-binary "$bin/etcd" \
      --kube-apiserver-binary "$bin/kube-apiserver" \
      --kube-controller-manager-binary "$bin/kube-controller-manager" \
      --kube-scheduler-binary "$bin/kube-scheduler" \
      --kwok-controller-binary "$bin/kwok" \
      --enable-crds=PortForward,ClusterPortForward \
      --timeout 5m --wait 2m >"$create_log" 2>&1 9>&-; then
    tail -n 40 "$create_log" >&2
    log "kwokctl create cluster failed (full output: $create_log; component logs: $workdir/logs)"
    exit 1
  fi
  create_node
  wait_ready
  log "cluster $name is up in $((SECONDS - started)) s"
}

# The node kwok pretends to be the kubelet of. The taint keeps anything that doesn't opt in off it,
# as on a real cluster mixing kwok and real nodes; test pods tolerate it and select type=kwok.
create_node() {
  kc apply -f - >&2 <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $node
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: $node
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
spec:
  taints:
    - key: kwok.x-k8s.io/node
      value: fake
      effect: NoSchedule
EOF
}

wait_ready() {
  local deadline=$((SECONDS + 120))
  until healthy 2>/dev/null; do
    if ((SECONDS > deadline)); then
      healthy || true
      log "cluster $name did not become healthy in 120 s; component logs are in $workdir/logs"
      exit 1
    fi
    sleep 1
  done
  # Pods need the namespace's default ServiceAccount; the controller creates it shortly after start.
  until kc -n default get serviceaccount default >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { log "no default ServiceAccount after 120 s"; exit 1; }
    sleep 1
  done
}

delete() {
  if [[ -d "$workdir" ]]; then
    log "deleting cluster $name"
    kwokctl delete cluster --name "$name" >"$KWOK_WORKDIR/$name.delete.log" 2>&1 9>&- ||
      log "kwokctl delete cluster failed, see $KWOK_WORKDIR/$name.delete.log"
    rm -rf "$workdir"
  fi
}

# One up/down at a time per cluster: two test runs starting together would otherwise both create it.
# kwokctl gets fd 9 closed (9>&-), or the daemons it leaves running would hold the lock forever.
lock() {
  mkdir -p "$cache_root"
  exec 9>"$cache_root/$name.lock"
  if command -v flock >/dev/null; then flock 9; fi
}

case "${1:-}" in
  up)
    lock
    use_bin
    if healthy 2>/dev/null; then
      log "reusing healthy cluster $name"
    else
      [[ -d "$workdir" ]] && { healthy || true; log "replacing unhealthy cluster $name"; }
      delete
      create
    fi
    echo "$kubeconfig"
    ;;
  down) lock; use_bin; delete ;;
  status) use_bin; healthy && log "cluster $name is healthy" ;;
  kubeconfig) echo "$kubeconfig" ;;
  bin) bin_dir ;;
  *) echo "usage: $0 up|down|status|kubeconfig|bin" >&2; exit 2 ;;
esac
