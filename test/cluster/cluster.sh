#!/usr/bin/env bash
# The e2e test cluster: a real control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) run as local processes by kwokctl, with one kwok-emulated node instead of a kubelet.
#
#   cluster.sh up          build if needed, reuse a healthy cluster or (re)create it; prints the kubeconfig path
#   cluster.sh down        delete the cluster (processes and etcd data)
#   cluster.sh status      exit 0 when the cluster is healthy, 1 otherwise (reason on stderr)
#   cluster.sh restart-apiserver  restart only kube-apiserver, wait for /readyz; prints the ms it was down
#   cluster.sh kubeconfig  print the kubeconfig path (the file exists only while the cluster does)
#   cluster.sh bin         print the directory with the cached binaries (kubectl, kwokctl, ...)
#   cluster.sh real-node up|down|status|check-clean  the real node beside the kwok one (ADR 0012;
#                          needs root or sudo -n); `down` and `status` include it when it is this cluster's
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
  [[ "$(cat "$KWOK_WORKDIR/$name.kwokctl.yaml" 2>/dev/null)" == "$(render_config)" ]] ||
    { log "cluster $name was created from another config"; return 1; }
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

# The kwokctl config; `up` replaces a cluster created from another version of it.
render_config() {
  # bindAddress has no flag: without it etcd, apiserver, controllers and kwok listen on 0.0.0.0.
  cat <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  bindAddress: 127.0.0.1
# The apiserver's default Service range is a /24 (254 ClusterIPs); benchmarks create 1,000 Services.
# The real node (real-node/node.sh, ADR 0012) needs the apiserver to dial its kubelet by InternalIP
# with a client certificate, and kwok to leave it alone (kwokctl's binary runtime manages all nodes).
componentsPatches:
  - name: kube-apiserver
    extraArgs:
      - key: service-cluster-ip-range
        value: 10.96.0.0/16
      - key: kubelet-preferred-address-types
        value: InternalIP,Hostname
      - key: kubelet-client-certificate
        value: $workdir/pki/admin.crt
      - key: kubelet-client-key
        value: $workdir/pki/admin.key
  - name: kwok-controller
    extraArgs:
      - key: manage-all-nodes
        value: "false"
      - key: manage-nodes-with-annotation-selector
        value: kwok.x-k8s.io/node=fake
EOF
}

create() {
  local started=$SECONDS
  mkdir -p "$KWOK_WORKDIR"
  local config="$KWOK_WORKDIR/$name.kwokctl.yaml" create_log="$KWOK_WORKDIR/$name.create.log"
  render_config > "$config"
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

# The real node (real-node/node.sh) joined to this cluster goes first: it needs the apiserver to
# deregister and would otherwise keep its containers, bridge and iptables chains.
real_node_owned() { [[ "$(cat "$cache_root/real-node/cluster" 2>/dev/null)" == "$name" ]]; }

delete() {
  local real_node_failed=0
  if real_node_owned; then
    bash "$here/real-node/node.sh" down-if-owned 9>&- || { real_node_failed=1; log "tearing down the real node failed (see above)"; }
  fi
  if [[ -d "$workdir" ]]; then
    log "deleting cluster $name"
    local pidfile pids=()
    for pidfile in "$workdir"/pids/*.pid; do [[ -e "$pidfile" ]] && pids+=("$(<"$pidfile")"); done
    kwokctl delete cluster --name "$name" >"$KWOK_WORKDIR/$name.delete.log" 2>&1 9>&- ||
      log "kwokctl delete cluster failed, see $KWOK_WORKDIR/$name.delete.log"
    # kwokctl signals its components and returns at once; a dying process holds its listening
    # sockets until it is gone. "down" means down: wait for them (bounded), so ports are free.
    local pid deadline=$((SECONDS + 30))
    for pid in "${pids[@]}"; do
      while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
      alive "$pid" && log "component pid $pid still running 30 s after kwokctl delete"
    done
    rm -rf "$workdir"
  fi
  return "$real_node_failed"
}

# Milliseconds since the epoch (bash 5's EPOCHREALTIME is "seconds.micros", "," in some locales).
now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }

# Restart kube-apiserver alone, the way kwokctl restarts components itself (snapshot restore) but
# has no command for: stop it as `kwokctl stop cluster` does (SIGKILL the pid in pids/, remove the
# pid file), then `kwokctl start cluster`, which starts only the components that aren't running,
# from kwok.yaml (same binary, args, env and work dir), writing a new pid file and the log in logs/.
# SIGKILL, not SIGTERM: a graceful shutdown waits up to the 60 s request timeout for open watches,
# and the controller-manager and scheduler exit once they can't renew their leader lease for 10 s.
# etcd, the controller-manager, the scheduler and kwok keep running, and keep their pids.
restart_apiserver() {
  local pidfile="$workdir/pids/kube-apiserver.pid" apilog="$workdir/logs/kube-apiserver.log"
  local restart_log="$KWOK_WORKDIR/$name.restart.log" other pid started stopped ready deadline
  local -A others=()
  [[ -f "$kubeconfig" && -f "$workdir/kwok.yaml" ]] || { log "no cluster $name (run: $0 up)"; exit 1; }
  # kwokctl start would start any other stopped component as well; only the apiserver may restart.
  for other in "$workdir"/pids/*.pid; do
    [[ "$other" == "$pidfile" ]] && continue
    others[$other]=$(<"$other")
    alive "${others[$other]}" ||
      { log "$(basename "$other" .pid) is not running, the cluster is broken (run: $0 up)"; exit 1; }
  done
  started=$(now_ms)
  if [[ -f "$pidfile" ]]; then
    pid=$(<"$pidfile")
    # A pid reused by some other process (the apiserver long dead) must not be killed.
    if alive "$pid" && grep -q kube-apiserver "/proc/$pid/cmdline" 2>/dev/null; then
      kill -KILL "$pid"
      while alive "$pid"; do sleep 0.02; done
    fi
    rm -f "$pidfile"
  fi
  stopped=$(now_ms)
  # kwokctl truncates the log on start; keep the previous apiserver's for post-mortems.
  [[ -f "$apilog" ]] && mv -f "$apilog" "$workdir/logs/kube-apiserver.previous.log"
  if ! kwokctl start cluster --name "$name" >"$restart_log" 2>&1 9>&-; then
    tail -n 20 "$restart_log" >&2
    log "kwokctl start cluster failed (full output: $restart_log; apiserver log: $apilog)"
    exit 1
  fi
  [[ -f "$pidfile" ]] || { log "kwokctl did not start kube-apiserver (see $restart_log)"; exit 1; }
  deadline=$((SECONDS + 120))
  until [[ "$(kc get --raw /readyz 2>/dev/null)" == ok ]]; do
    ((SECONDS < deadline)) || { log "kube-apiserver not ready 120 s after restart; see $apilog"; exit 1; }
    sleep 0.1
  done
  ready=$(now_ms)
  log "kube-apiserver restarted (pid ${pid:-none} -> $(<"$pidfile")): down $((ready - started)) ms" \
    "(kill $((stopped - started)) ms, start until /readyz ok $((ready - stopped)) ms)"
  for other in "${!others[@]}"; do
    if [[ "$(cat "$other" 2>/dev/null)" != "${others[$other]}" ]] || ! alive "${others[$other]}"; then
      log "$(basename "$other" .pid) (pid ${others[$other]}) died during the restart; see $workdir/logs"
      exit 1
    fi
  done
  healthy || { log "cluster $name is not healthy after restarting kube-apiserver"; exit 1; }
  echo $((ready - started))
}

# One up/down/restart-apiserver at a time per cluster: two test runs starting together would
# otherwise both create it, and `up` mid-restart would find the cluster unhealthy and replace it.
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
  status)
    use_bin
    healthy || exit 1
    log "cluster $name is healthy"
    if real_node_owned; then bash "$here/real-node/node.sh" status; else log "no real node in cluster $name"; fi
    ;;
  real-node) shift; use_bin; exec bash "$here/real-node/node.sh" "$@" 9>&- ;;
  restart-apiserver) lock; use_bin; restart_apiserver ;;
  kubeconfig) echo "$kubeconfig" ;;
  bin) bin_dir ;;
  *) echo "usage: $0 up|down|status|restart-apiserver|kubeconfig|bin|real-node up|down|status|check-clean" >&2; exit 2 ;;
esac
