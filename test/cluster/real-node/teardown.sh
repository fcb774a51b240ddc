# Tear-down of the real node and the check that nothing is left (sourced by node.sh after common.sh).
# It does not rely on the kubelet or containerd cooperating: processes are killed by pid, then the
# kernel objects they made are removed by name and by where they live.

new_netns() {
  local baseline="$state/netns.baseline" ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-' || true); do
    grep -qx "$ns" "$baseline" 2>/dev/null || echo "$ns"
  done
}

kill_pids() {
  local signal=$1 pid
  shift
  for pid in "$@"; do kill "-$signal" "$pid" 2>/dev/null || true; done
}

wait_gone() {
  local deadline=$((SECONDS + $1)) pid
  shift
  for pid in "$@"; do
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  done
}

stop_processes() {
  local pid f
  # The node agents first, gently (the kubelet and kube-proxy leave no state worth a long wait).
  for f in kube-proxy kubelet; do
    [[ -f "$state/pids/$f.pid" ]] || continue
    pid=$(<"$state/pids/$f.pid")
    alive "$pid" && { kill -TERM "$pid"; wait_gone 10 "$pid"; kill -KILL "$pid" 2>/dev/null || true; }
  done
  # Containers: every process in the pods' cgroups, then containerd and its shims.
  mapfile -t pids < <(cgroup_pids)
  kill_pids KILL "${pids[@]}"
  wait_gone 10 "${pids[@]}"
  mapfile -t pids < <(node_pids)
  kill_pids TERM "${pids[@]}"
  wait_gone 10 "${pids[@]}"
  mapfile -t pids < <(node_pids)
  kill_pids KILL "${pids[@]}"
  wait_gone 5 "${pids[@]}"
  # Agents whose pid file was lost (an up that died half-way) are found by name.
  read -r -a pids <<<"$(live_agents)"
  kill_pids KILL "${pids[@]}"
  wait_gone 5 "${pids[@]}"
  rm -f "$state"/pids/*.pid
}

remove_network() {
  local ns m
  for m in $(node_mounts); do umount -l "$m" 2>/dev/null || true; done
  for ns in $(new_netns); do ip netns delete "$ns" 2>/dev/null || true; done
  ip link show "$bridge" >/dev/null 2>&1 && ip link delete "$bridge"
  # iptables rules and chains of the kubelet (KUBE-FIREWALL, canaries), kube-proxy (KUBE-*) and
  # the CNI plugins (CNI-*): the tables are rewritten without them. Tables that did not exist
  # before up (iptables-nft creates them on first use) are deleted whole.
  local tool
  for tool in iptables ip6tables; do
    if "$tool-save" 2>/dev/null | grep -q -E 'KUBE-|CNI-'; then
      # Every rule of theirs names one of their chains (a jump, a chain, a comment-free -A KUBE-...).
      "$tool-save" | grep -v -E 'KUBE-|CNI-' | "$tool-restore"
    fi
  done
  if command -v nft >/dev/null; then
    local table
    while read -r table; do
      [[ -z "$table" ]] && continue
      grep -qxF "$table" "$state/nft-tables.baseline" 2>/dev/null || nft delete "$table" 2>/dev/null || true
    done < <(nft list tables 2>/dev/null)
  fi
}

remove_cgroups() {
  local dir
  for dir in /sys/fs/cgroup/*/"$cgroup_root"; do
    [[ -d "$dir" ]] || continue
    find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

restore_sysctls() {
  [[ -f "$state/sysctl.baseline" ]] || return 0
  local key value
  while read -r key value; do
    [[ -n "$key" ]] && sysctl -q -w "$key=$value" >/dev/null 2>&1 || true
  done <"$state/sysctl.baseline"
}

teardown() {
  local owner
  owner=$(cat "$state/cluster" 2>/dev/null || true)
  [[ -d "$state" ]] || return 0
  log "tearing down the real node${owner:+ of cluster $owner}"
  # The Node object goes too, when its cluster is still there (a NotReady node would linger).
  if [[ -n "$owner" && -f "$KWOK_WORKDIR/clusters/$owner/kubeconfig.yaml" ]] && command -v kubectl >/dev/null; then
    kubectl --kubeconfig "$KWOK_WORKDIR/clusters/$owner/kubeconfig.yaml" --request-timeout=5s \
      delete node "$node_name" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  stop_processes
  remove_network
  remove_cgroups
  restore_sysctls
  # containerd's root goes too: stale containers would confuse the next kubelet. Images are
  # re-imported from the cached tarballs by up.
  rm -rf "$state/containerd" "$state/kubelet" "$state/cni" "$state/pod-logs" "$state/cluster"
  check_clean
}

# Live kubelet, kube-proxy and containerd processes of ours. A killed one that its adoptive parent
# has not reaped yet (orphans go to PID 1, which in a CI sandbox may reap late) is a zombie: it
# holds nothing but a pid, so it does not count.
live_agents() {
  local pid
  for pid in $(pgrep -f -- "(kubelet|kube-proxy|containerd) --config $state/" || true); do
    alive "$pid" && echo -n "$pid "
  done
  true
}

# Exit status 0 when nothing of the real node is left on this machine; what is left goes to stderr.
check_clean() {
  local dirty=0 left
  left=$(node_pids | tr '\n' ' ')
  [[ -z "${left// /}" ]] || { log "left: processes $left"; dirty=1; }
  left=$(live_agents)
  [[ -z "$left" ]] || { log "left: kubelet/kube-proxy/containerd $(ps -o pid=,stat=,args= -p "${left// /,}" 2>/dev/null | cut -c1-120 | tr '\n' ';')"; dirty=1; }
  left=$({ iptables-save; ip6tables-save; } 2>/dev/null | grep -E '^:(KUBE|CNI)-' | cut -d' ' -f1 | tr '\n' ' ' || true)
  [[ -z "$left" ]] || { log "left: iptables chains $left"; dirty=1; }
  if command -v nft >/dev/null; then
    left=$(diff <(nft list tables 2>/dev/null | sort) <(sort "$state/nft-tables.baseline" 2>/dev/null) | grep '^<' || true)
    [[ -z "$left" ]] || { log "left: nftables tables $left"; dirty=1; }
  fi
  ! ip link show "$bridge" >/dev/null 2>&1 || { log "left: bridge $bridge"; dirty=1; }
  left=$(new_netns | tr '\n' ' ')
  [[ -z "${left// /}" ]] || { log "left: network namespaces $left"; dirty=1; }
  left=$(node_mounts | tr '\n' ' ')
  [[ -z "${left// /}" ]] || { log "left: mounts $left"; dirty=1; }
  left=$(ls -d /sys/fs/cgroup/*/"$cgroup_root" 2>/dev/null | tr '\n' ' ' || true)
  [[ -z "${left// /}" ]] || { log "left: cgroups $left"; dirty=1; }
  if [[ -f "$state/sysctl.baseline" ]]; then
    local key value now
    while read -r key value; do
      now=$(sysctl -n "$key" 2>/dev/null || true)
      [[ "$now" == "$value" ]] || { log "left: sysctl $key=$now (was $value)"; dirty=1; }
    done <"$state/sysctl.baseline"
  fi
  return "$dirty"
}
