#!/usr/bin/env bash
# Builds the real node's container images without a registry, as OCI image tarballs in the cache:
#   loc.test/pause:local            our static pause program, nothing else
#   loc.test/openssh-server:local   Debian bookworm minbase + openssh-server + curl, user abc (uid 911,
#                                   loc's default --ssh-user/--run-as-user), for loc's proxy pod
#   loc.test/app:local              the same base + our HTTP server (images/app) as the entrypoint
# The Debian root filesystem comes from debootstrap and the mirror apt uses. Prints the image dir.
# Usage: images.sh BIN_DIR (the dir build.sh printed, with pause and app)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$1
cache_root=${LOC_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loc-test-cluster}
log() { printf '[real-node-images] %s\n' "$*" >&2; }

suite=bookworm
packages=openssh-server,curl,ca-certificates
mirror=$(sed -n 's#^URIs: \(http[^ ]*/debian\)$#\1#p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
mirror=${mirror:-http://deb.debian.org/debian}
# The rootfs is keyed by its recipe; the images also by our programs.
rootfs_key=$(printf '%s\n' "$suite" "$packages" "abc:911" | sha256sum | cut -c1-12)
rootfs_dir="$cache_root/real-node-rootfs-$rootfs_key"
image_key=$(cat "$here/images.sh" "$bin/pause" "$bin/app" <(echo "$rootfs_key") | sha256sum | cut -c1-12)
image_dir="$cache_root/real-node-images-$image_key"

build_rootfs() {
  command -v debootstrap >/dev/null || { log "debootstrap not found (apt-get install debootstrap)"; exit 1; }
  rm -rf "$rootfs_dir" && mkdir -p "$rootfs_dir"
  log "debootstrap $suite ($packages) from $mirror"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs_dir/root" "$mirror" >"$rootfs_dir/debootstrap.log" 2>&1 ||
    { tail -n 20 "$rootfs_dir/debootstrap.log" >&2; log "debootstrap failed (log: $rootfs_dir/debootstrap.log)"; exit 1; }
  # loc's default proxy user: abc, uid 911 (as in lscr.io/linuxserver/openssh-server).
  chroot "$rootfs_dir/root" /usr/sbin/useradd --uid 911 --user-group --create-home --shell /bin/sh abc
  # No host keys baked in: loc's session Secret carries the one sshd uses.
  rm -f "$rootfs_dir/root"/etc/ssh/ssh_host_* && rm -rf "$rootfs_dir/root"/var/cache/apt/archives/*.deb "$rootfs_dir/root"/var/lib/apt/lists/*
  touch "$rootfs_dir/.complete"
}

# blob FILE MEDIATYPE: moves FILE into the layout's blobs and prints its descriptor JSON.
blob() {
  local digest size
  digest=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$layout/blobs/sha256/$digest"
  printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$digest" "$size"
}

# oci_image NAME OUT CONFIG_JSON LAYER_TAR...: an OCI image layout tarball `ctr images import` loads.
oci_image() {
  local name=$1 out=$2 config=$3 diff_ids="" layers="" layer
  shift 3
  layout=$(mktemp -d "$image_dir/layout.XXXXXX")
  mkdir -p "$layout/blobs/sha256"
  for layer in "$@"; do
    diff_ids+="${diff_ids:+,}\"sha256:$(sha256sum "$layer" | cut -d' ' -f1)\""
    cp "$layer" "$layout/layer.tar"
    layers+="${layers:+,}$(blob "$layout/layer.tar" application/vnd.oci.image.layer.v1.tar)"
  done
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$config" "$diff_ids" >"$layout/config.json"
  local config_desc manifest_desc
  config_desc=$(blob "$layout/config.json" application/vnd.oci.image.config.v1+json)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
    "$config_desc" "$layers" >"$layout/manifest.json"
  manifest_desc=$(blob "$layout/manifest.json" application/vnd.oci.image.manifest.v1+json)
  printf '{"schemaVersion":2,"manifests":[%s]}' \
    "${manifest_desc%\}},\"annotations\":{\"io.containerd.image.name\":\"$name\",\"org.opencontainers.image.ref.name\":\"${name##*:}\"}}" \
    >"$layout/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  tar -C "$layout" -cf "$out" oci-layout index.json blobs
  rm -rf "$layout"
}

build_images() {
  rm -rf "$image_dir" && mkdir -p "$image_dir"
  local work
  work=$(mktemp -d "$image_dir/work.XXXXXX")
  # Fixed owners and mtimes keep the layers' digests stable for the same inputs.
  local tar_opts=(--numeric-owner --sort=name --mtime=@0)
  mkdir -p "$work/pause" "$work/app/usr/local/bin"
  cp "$bin/pause" "$work/pause/pause" && cp "$bin/app" "$work/app/usr/local/bin/app"
  tar -C "$work/pause" "${tar_opts[@]}" --owner=0 --group=0 -cf "$work/pause.tar" .
  tar -C "$work/app" "${tar_opts[@]}" --owner=0 --group=0 -cf "$work/app.tar" .
  tar -C "$rootfs_dir/root" "${tar_opts[@]}" -cf "$work/debian.tar" .
  local path='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
  oci_image loc.test/pause:local "$image_dir/pause.tar" "{$path,\"Entrypoint\":[\"/pause\"]}" "$work/pause.tar"
  oci_image loc.test/openssh-server:local "$image_dir/openssh-server.tar" "{$path,\"Cmd\":[\"/usr/sbin/sshd\",\"-D\",\"-e\"]}" "$work/debian.tar"
  oci_image loc.test/app:local "$image_dir/app.tar" "{$path,\"Entrypoint\":[\"/usr/local/bin/app\"]}" "$work/debian.tar" "$work/app.tar"
  rm -rf "$work"
  touch "$image_dir/.complete"
}

started=$SECONDS
[[ -f "$rootfs_dir/.complete" ]] || { build_rootfs; log "rootfs built in $((SECONDS - started)) s"; }
[[ -f "$image_dir/.complete" ]] || { build_images; log "images built in $((SECONDS - started)) s"; }
echo "$image_dir"
