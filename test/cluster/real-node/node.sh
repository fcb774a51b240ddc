#!/usr/bin/env bash
# The test cluster's real node (ADR 0012): containerd + runc, CNI bridge/host-local/portmap, a
# kubelet joined to the cluster with a client certificate from the cluster's CA, and kube-proxy in
# iptables mode, all on this machine. Pods opt in: label type=real, taint loc.test/real-node.
#
#   node.sh up           build if needed, reuse a healthy real node of this cluster or start one
#   node.sh down         stop it and remove everything it made (processes, iptables chains, bridge,
#                        netns, mounts, cgroups; sysctls such as ip_forward restored), then check
#   node.sh down-if-owned  down, only when the real node belongs to this cluster (cluster.sh down)
#   node.sh status       exit 0 when healthy (reason on stderr)
#   node.sh check-clean  exit 0 when nothing of a real node is left on this machine
# Needs root; as another user it re-runs itself with `sudo -n`. Same environment as cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"
# shellcheck source=teardown.sh
source "$here/teardown.sh"

if [[ $EUID -ne 0 ]]; then
  if ! command -v sudo >/dev/null || ! sudo -n true 2>/dev/null; then
    echo "[real-node] needs root: run the tests as root or give this user passwordless sudo (sudo -n true failed)" >&2
    exit 1
  fi
  exec sudo -n env LOC_CLUSTER_CACHE="$cache_root" LOC_CLUSTER_NAME="$name" PATH="$PATH" bash "$0" "$@"
fi

kubeconfig="$workdir/kubeconfig.yaml"
kc() { kubectl --kubeconfig "$kubeconfig" --request-timeout=10s "$@"; }

healthy() {
  [[ "$(cat "$state/cluster" 2>/dev/null)" == "$name" ]] || { log "no real node in cluster $name"; return 1; }
  local component pid
  for component in containerd kubelet kube-proxy; do
    pid=$(cat "$state/pids/$component.pid" 2>/dev/null || true)
    [[ -n "$pid" ]] && alive "$pid" || { log "$component is not running"; return 1; }
  done
  curl -fsS --max-time 3 http://127.0.0.1:10248/healthz >/dev/null 2>&1 || { log "kubelet /healthz failed"; return 1; }
  curl -fsS --max-time 3 http://127.0.0.1:10256/healthz >/dev/null 2>&1 || { log "kube-proxy /healthz failed"; return 1; }
  local ready
  ready=$(kc get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  [[ "$ready" == True ]] || { log "node $node_name is not Ready"; return 1; }
}

# A client certificate for CN/O, signed by the cluster's CA, in a kubeconfig for the apiserver.
client_kubeconfig() {
  local who=$1 cn=$2 org=$3 dir="$state/pki"
  mkdir -p "$dir"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$who.key" -subj "/O=$org/CN=$cn" \
    -out "$dir/$who.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$who.csr" -CA "$workdir/pki/ca.crt" -CAkey "$workdir/pki/ca.key" \
    -CAcreateserial -days 7 -out "$dir/$who.crt" 2>/dev/null
  local server
  server=$(kc config view --raw -o jsonpath='{.clusters[0].cluster.server}')
  cat >"$state/$who.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "$server", certificate-authority: "$workdir/pki/ca.crt"}}]
users: [{name: u, user: {client-certificate: "$dir/$who.crt", client-key: "$dir/$who.key"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
KC
}

# start NAME CMD...: a daemon in its own session, log in logs/, pid in pids/, no inherited lock fd.
start() {
  local component=$1
  shift
  setsid "$@" >"$state/logs/$component.log" 2>&1 9>&- </dev/null &
  echo $! >"$state/pids/$component.pid"
}

# wait_for WHAT SECONDS COMPONENT CHECK...: fails at once when COMPONENT's process has died.
wait_for() {
  local what=$1 seconds=$2 log_file="$state/logs/$3.log" pid deadline=$((SECONDS + $2))
  pid=$(<"$state/pids/$3.pid")
  shift 3
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)) || ! alive "$pid"; then
      tail -n 30 "$log_file" >&2 || true
      log "$what not within $seconds s (log: $log_file)"
      exit 1
    fi
    sleep 0.2
  done
}

up() {
  local started=$SECONDS
  for tool in containerd runc iptables debootstrap ip openssl curl; do
    command -v "$tool" >/dev/null || { log "$tool not found: apt-get install containerd runc iptables containernetworking-plugins debootstrap iproute2 openssl curl"; exit 1; }
  done
  [[ -x /usr/lib/cni/bridge ]] || { log "CNI plugins not found in /usr/lib/cni: apt-get install containernetworking-plugins"; exit 1; }
  [[ -f "$kubeconfig" ]] || { log "no cluster $name: run cluster.sh up first"; exit 1; }
  grep -q 'manage-nodes-with-annotation-selector' "$KWOK_WORKDIR/$name.kwokctl.yaml" 2>/dev/null ||
    { log "cluster $name predates the real node (kwok manages all nodes): run cluster.sh down, then up"; exit 1; }
  local bin images
  bin=$(bash "$here/build.sh")
  images=$(bash "$here/images.sh" "$bin")
  local owner
  owner=$(cat "$state/cluster" 2>/dev/null || true)
  if [[ -n "$owner" && "$owner" != "$name" ]]; then log "the real node belongs to cluster $owner: taking it over"; fi
  teardown
  log "starting the real node for cluster $name"
  mkdir -p "$state"/{pids,logs,containerd/certs.d,kubelet,cni/net.d,cni/ipam,pod-logs}
  # What down restores or compares against.
  local key
  for key in "${sysctls[@]}"; do
    printf '%s %s\n' "$key" "$(sysctl -n "$key" 2>/dev/null || echo '')"
  done | awk 'NF==2' >"$state/sysctl.baseline"
  ip netns list 2>/dev/null | awk '{print $1}' >"$state/netns.baseline"
  nft list tables 2>/dev/null >"$state/nft-tables.baseline" || true
  echo "$name" >"$state/cluster"

  # The bridge exists before the kubelet: its address is the node's InternalIP (the kubelet refuses
  # a loopback node IP), so the apiserver dials the kubelet on this machine only.
  ip link add "$bridge" type bridge
  ip addr add "$node_ip/24" dev "$bridge"
  ip link set "$bridge" up
  # kube-proxy's ClusterIP rules must see bridged pod-to-pod replies (br_netfilter is built in).
  sysctl -q -w net.bridge.bridge-nf-call-iptables=1
  bash "$here/config.sh" "$state" "$bin" >&2
  start containerd containerd --config "$state/containerd/config.toml"
  wait_for "containerd" 30 containerd ctr -a "$sock" version
  local image
  for image in pause openssh-server app; do
    ctr -a "$sock" -n k8s.io images import --no-unpack=false "$images/$image.tar" >/dev/null
  done

  # The kubelet's cgroup root must exist in every v1 hierarchy; a new cpuset has no cpus or mems.
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ "$hierarchy" == */unified/ ]] && continue
    mkdir -p "$hierarchy$cgroup_root"
  done
  cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$cgroup_root/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$cgroup_root/cpuset.mems"

  client_kubeconfig kubelet "system:node:$node_name" system:nodes
  client_kubeconfig kube-proxy system:kube-proxy system:node-proxier
  start kubelet "$bin/kubelet" --config "$state/kubelet/config.yaml" --kubeconfig "$state/kubelet.kubeconfig" \
    --root-dir "$state/kubelet" --cert-dir "$state/kubelet/pki" --hostname-override "$node_name" \
    --node-ip "$node_ip" --node-labels type=real --v=2
  wait_for "kubelet /healthz" 60 kubelet curl -fsS http://127.0.0.1:10248/healthz
  start kube-proxy "$bin/kube-proxy" --config "$state/kube-proxy.yaml" --v=2
  wait_for "node $node_name Ready" 90 kubelet \
    bash -c "[[ \$(kubectl --kubeconfig '$kubeconfig' get node $node_name -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}') == True ]]"
  wait_for "kube-proxy /healthz" 60 kube-proxy curl -fsS http://127.0.0.1:10256/healthz
  log "real node $node_name of cluster $name is up in $((SECONDS - started)) s"
}

lock() {
  mkdir -p "$cache_root"
  exec 9>"$cache_root/real-node.lock"
  if command -v flock >/dev/null; then flock 9; fi
}

case "${1:-}" in
  up)
    lock
    if healthy 2>/dev/null; then log "reusing healthy real node of cluster $name"; else up; fi
    ;;
  down) lock; teardown ;;
  down-if-owned) lock; [[ "$(cat "$state/cluster" 2>/dev/null)" != "$name" ]] || teardown ;;
  status) healthy && log "real node $node_name of cluster $name is healthy" ;;
  check-clean) check_clean && log "nothing of the real node is left" ;;
  *) echo "usage: $0 up|down|down-if-owned|status|check-clean" >&2; exit 2 ;;
esac
