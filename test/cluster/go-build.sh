# Sourced by build.sh and real-node/build.sh (after versions.env and a log function): the Go
# environment and cache both builds use, and the two steps they share. Nothing is downloaded
# except through the Go module proxy.
cache_root=${LOC_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loc-test-cluster}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# build_k8s_commands DIR MODULE "PKG..." CMD... : builds k8s.io/kubernetes/cmd/CMD into DIR/bin
# through a wrapper module MODULE in DIR/src that requires k8s.io/kubernetes at $K8S_VERSION, with
# each staging module (required there as v0.0.0 and replaced by ./staging/...) pointed at
# v0.Y.Z. The PKGs are imported by a stub main so that go mod tidy resolves their dependencies.
build_k8s_commands() {
  local dir=$1 module=$2 packages=$3
  shift 3
  local work="$dir/src" minor=${K8S_VERSION#v1.} pkg cmd
  minor=${minor%%.*}
  mkdir -p "$work" && cd "$work"
  log "kubernetes $K8S_VERSION: resolving staging modules"
  local modfile
  modfile=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module $module"
    echo "go 1.26"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$modfile" |
      while read -r m; do echo "  $m => $m v0.$minor.${K8S_VERSION##*.}"; done
    echo ")"
  } > go.mod
  {
    printf 'package main\nimport (\n'
    for pkg in $packages; do printf '\t_ "%s"\n' "$pkg"; done
    printf ')\nfunc main() {}\n'
  } > tools.go
  go mod tidy >&2
  local v="k8s.io/component-base/version"
  local ldflags="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
  ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  local targets=()
  for cmd; do targets+=("k8s.io/kubernetes/cmd/$cmd"); done
  log "kubernetes $K8S_VERSION: compiling $* (a cold build takes a while on 2 cores)"
  go build -trimpath -ldflags "$ldflags" -o "$dir/bin/" "${targets[@]}" >&2
}

# once DIR FN WHAT: runs FN unless DIR/.complete exists; a failed build leaves no marker. Go is
# needed only to build: a warm cache works without it.
once() {
  if [[ -f "$1/.complete" ]]; then return 0; fi
  command -v go >/dev/null || { log "go not found: install Go >= 1.26 to build $3"; exit 1; }
  local started=$SECONDS
  ( "$2" )
  touch "$1/.complete"
  log "$(basename "$1") built in $((SECONDS - started)) s"
}
