# Shared by node.sh and teardown.sh (sourced): where the real node lives and what it is made of.
# One real node per machine (it owns a bridge, iptables chains and kubelet ports); it joins the
# cluster named in $state/cluster.
cache_root=${LOC_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loc-test-cluster}
name=${LOC_CLUSTER_NAME:-loc-e2e}
export KWOK_WORKDIR="$cache_root/kwok-home"
workdir="$KWOK_WORKDIR/clusters/$name"
state="$cache_root/real-node"
node_name=real
bridge=loc-cni0
pod_cidr=10.244.0.0/24
node_ip=10.244.0.1
cgroup_root=loc-real-node
sock="$state/containerd/containerd.sock"
# Kernel settings the kubelet, kube-proxy or the CNI bridge may change; saved by up, restored by down.
sysctls=(net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
  net.bridge.bridge-nf-call-ip6tables vm.overcommit_memory vm.panic_on_oom kernel.panic
  kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
log() { printf '[real-node] %s\n' "$*" >&2; }

alive() {
  kill -0 "$1" 2>/dev/null || return 1
  ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# Pids of processes that belong to the real node: the ones we started (pid files) and any
# containerd shim started for our containerd socket.
node_pids() {
  local f pid
  for f in "$state"/pids/*.pid; do
    [[ -e "$f" ]] || continue
    pid=$(<"$f")
    alive "$pid" && echo "$pid"
  done
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    if { tr "\0" " " <"$f"; } 2>/dev/null | grep -q -- "-address $sock"; then echo "$pid"; fi
  done
}

# Container processes: everything in the kubelet's cgroup tree.
cgroup_pids() {
  local procs
  for procs in /sys/fs/cgroup/*/"$cgroup_root"; do
    [[ -d "$procs" ]] && find "$procs" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
  true
}

# Mount points of ours, deepest first: containerd's rootfs/shm mounts, the kubelet's volumes,
# the pods' network namespaces (containerd binds them under /run/netns/cni-*).
node_mounts() {
  awk '{print $5}' /proc/self/mountinfo | grep -E "^($state/|/run/netns/cni-|/var/run/netns/cni-)" | sort -r || true
}
