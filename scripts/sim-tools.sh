#!/usr/bin/env bash
# Build the sim tier's programs from their Go modules into a cache outside the repo.
#
#   scripts/sim-tools.sh            build what is missing, print each build's time
#   scripts/sim-tools.sh --print    print the cache directory and exit
#
# Versions are pinned in harness/sim-versions.env (one place, read by the harness too).
# Cache: $GITOPS_HARNESS_SIM_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/gitops-harness/sim.
# Each component goes to <cache>/<name>-<version>/; it is built in a temporary directory beside
# it and renamed into place only when complete, so an interrupted run leaves nothing half-built
# and the next run starts that component again. Nothing here is committed to the repo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=../harness/sim-versions.env
source "$root/harness/sim-versions.env"

cache="${GITOPS_HARNESS_SIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-harness/sim}"
if [ "${1:-}" = "--print" ]; then echo "$cache"; exit 0; fi

if ! command -v go >/dev/null; then
  echo "error: Go is not installed; the sim tier builds its programs from Go modules." >&2
  echo "       Install Go ${GO_MIN} or newer (https://go.dev/doc/install), then run this again." >&2
  exit 2
fi
mkdir -p "$cache"
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0
# A lower toolchain in go.mod must not trigger a toolchain download.
export GOTOOLCHAIN=local
ldflags_common="-s -w"
total_start=$(date +%s)

# build NAME VERSION FUNCTION: run FUNCTION in a fresh staging dir unless the cache has it.
build() {
  local name="$1" version="$2" fn="$3"
  local dest="$cache/$name-$version"
  if [ -f "$dest/.complete" ]; then
    echo "sim-tools: $name $version cached ($dest)"
    return 0
  fi
  local stage="$cache/.staging-$name-$version.$$"
  rm -rf "$stage"
  mkdir -p "$stage/bin" "$stage/src"
  # Remove the staging dir on interrupt; the cache entry only appears on success.
  trap 'rm -rf "$stage"' EXIT INT TERM
  local start
  start=$(date +%s)
  echo "sim-tools: building $name $version ..."
  # A background subshell keeps `set -e` in force inside the build function (it is ignored in
  # any command that is part of an `||` list).
  ( set -e; cd "$stage/src"; "$fn" "$stage" "$version" ) > "$stage/build.log" 2>&1 &
  if ! wait $! || [ -z "$(ls -A "$stage/bin")" ]; then
    cp "$stage/build.log" "$cache/$name-$version.failed.log"
    echo "error: building $name $version failed; last lines of $cache/$name-$version.failed.log:" >&2
    grep -v '^go: downloading' "$stage/build.log" | tail -30 >&2
    exit 1
  fi
  if [ -s "$stage/substitutions.txt" ]; then
    echo "sim-tools: $name $version: the module proxy does not serve some pinned dependencies; built with:" 
    sed 's/^/sim-tools:     /' "$stage/substitutions.txt"
  fi
  rm -rf "$stage/src"
  local secs=$(( $(date +%s) - start ))
  echo "$secs" > "$stage/build-seconds"
  touch "$stage/.complete"
  rm -rf "$dest"
  mv "$stage" "$dest"
  trap - EXIT INT TERM
  echo "sim-tools: built $name $version in ${secs}s"
}

# Directory of a module in the module cache (downloading it).
moddir() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }

build_etcd() {
  local stage="$1" v="$2"
  go mod init sim.local/etcd
  go get "go.etcd.io/etcd/server/v3@$v"
  go build -trimpath -ldflags "$ldflags_common" -o "$stage/bin/etcd" go.etcd.io/etcd/server/v3
}

build_kubernetes() {
  local stage="$1" v="$2" minor staging
  minor="${v#v1.}"; minor="${minor%%.*}"
  staging="v0.${v#v1.}"
  go mod init sim.local/kubernetes
  local kdir
  kdir="$(moddir "k8s.io/kubernetes@$v")"
  # Kubernetes requires its staging modules at v0.0.0 with replaces to ./staging; a wrapper must
  # replace each with the published v0.Y.Z instead.
  local reps
  reps="$(go mod edit -json "$kdir/go.mod" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for r in d.get("Replace") or []:
    p = r["Old"]["Path"]
    if r["New"]["Path"].startswith("./staging/"):
        print(p)
')"
  local args=("-require=k8s.io/kubernetes@$v")
  for m in $reps; do args+=("-replace=$m=$m@$staging"); done
  go mod edit "${args[@]}"
  cat > tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
EOF
  go mod tidy -e
  local date ld=""
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  # Without these the binaries say v0.0.0-master, which Flagger's start-up check rejects.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
    local s
    s=$(date +%s)
    go build -trimpath -ldflags "$ldflags_common $ld" -o "$stage/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    echo "sim-tools:   $cmd in $(( $(date +%s) - s ))s" >&3
  done
}

build_kwok() {
  local stage="$1" v="$2"
  GOBIN="$stage/bin" go install -trimpath -ldflags "$ldflags_common" "sigs.k8s.io/kwok/cmd/kwok@$v"
  local d
  d="$(moddir "sigs.k8s.io/kwok@$v")"
  mkdir -p "$stage/stages"
  # The "fast" set kwokctl loads by default (kustomize/stage/fast): node init, heartbeat with a
  # lease, pod ready/complete/delete. No chaos stages.
  local f
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cp "$d/kustomize/stage/$f" "$stage/stages/"
  done
  chmod -R u+w "$stage/stages"
}

# Run a build in the current module; when the module proxy refuses a pinned dependency
# ("403 ... This module version is not available"), substitute it and try again, recording each
# substitution in $stage/substitutions.txt:
#   - a module that is only the target of a `replace` (a fork, e.g. Flux's helm fork) is dropped:
#     the upstream module at the version go.mod requires is used;
#   - any other module is replaced by the highest version the proxy serves with the same
#     major.minor that is not newer than the one pinned.
build_substituting() {
  local stage="$1"; shift
  local try
  for try in 1 2 3 4 5 6; do
    if "$@" > "$stage/try.log" 2>&1; then cat "$stage/try.log"; return 0; fi
    cat "$stage/try.log"
    local refused
    refused="$(grep -oE '[^ :]+@v[^ :]+: reading [^ ]+: 403 Forbidden' "$stage/try.log" | sed 's/: reading.*//' | sort -u)"
    [ -n "$refused" ] || return 1
    local mv mod ver
    for mv in $refused; do
      mod="${mv%@*}"; ver="${mv#*@}"
      local replaced
      replaced="$(go mod edit -json | python3 -c '
import json, sys
mod, ver = sys.argv[1], sys.argv[2]
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"]["Path"] == mod and r["New"].get("Version") == ver:
        print(r["Old"]["Path"])
' "$mod" "$ver")"
      if [ -n "$replaced" ]; then
        go mod edit -dropreplace="$replaced"
        echo "$replaced: dropped the replace with $mod@$ver (not served); upstream $replaced at the version go.mod requires" >> "$stage/substitutions.txt"
        continue
      fi
      local mm best
      mm="$(echo "$ver" | cut -d. -f1-2)."
      best="$(go list -m -versions "$mod" 2>/dev/null | tr ' ' '\n' | grep -F "$mm" | python3 -c '
import sys
want = sys.argv[1]
def key(v):
    core = v.lstrip("v").split("-")[0].split("+")[0]
    return tuple(int(x) for x in core.split(".")[:3] if x.isdigit())
vs = [v.strip() for v in sys.stdin if v.strip() and "-" not in v.strip()]
ok = [v for v in vs if key(v) <= key(want)]
print(max(ok, key=key) if ok else "")
' "$ver")"
      [ -n "$best" ] || { echo "no served version of $mod like $ver" >&2; return 1; }
      go mod edit -replace="$mod=$mod@$best"
      echo "$mod: $best instead of $ver (not served)" >> "$stage/substitutions.txt"
    done
  done
  return 1
}

# Flux controllers: build from a writable copy of the module with only the ./api replace dropped.
build_flux_controller() {
  local stage="$1" v="$2" mod="$3" name="$4"
  local d
  d="$(moddir "$mod@$v")"
  cp -r "$d/." .
  chmod -R u+w .
  go mod edit -dropreplace="$mod/api"
  build_substituting "$stage" go build -trimpath -ldflags "$ldflags_common" -o "$stage/bin/$name" .
  mkdir -p "$stage/crds"
  cp "$d"/config/crd/bases/*.yaml "$stage/crds/"
  chmod -R u+w "$stage/crds"
}
build_source_controller() { build_flux_controller "$1" "$2" github.com/fluxcd/source-controller source-controller; }
build_kustomize_controller() { build_flux_controller "$1" "$2" github.com/fluxcd/kustomize-controller kustomize-controller; }
build_helm_controller() { build_flux_controller "$1" "$2" github.com/fluxcd/helm-controller helm-controller; }

build_flagger() {
  local stage="$1" v="$2"
  GOBIN="$stage/bin" go install -trimpath -ldflags "$ldflags_common" "github.com/fluxcd/flagger/cmd/flagger@$v"
  local d
  d="$(moddir "github.com/fluxcd/flagger@$v")"
  mkdir -p "$stage/crds"
  cp "$d/artifacts/flagger/crd.yaml" "$stage/crds/flagger.yaml"
  chmod -R u+w "$stage/crds"
}

# cert-manager's controllers, through our launcher module (harness/sim-go/cert-manager: its own
# main package under github.com/cert-manager/cert-manager/, since cert-manager's cmd/controller
# is a nested module the proxy does not serve). Its committed go.mod/go.sum pin every module;
# the build only reads them (-mod=readonly). The cache entry carries a key of the launcher's
# source (cert_manager_key; the harness computes the same, cluster::sim::cert_manager), so an
# edited launcher is rebuilt. CRDs: the module's deploy/crds (the same schemas its chart renders
# with crds.enabled=true at that version).
cert_manager_key() {
  python3 - "$root/harness/sim-go/cert-manager" <<'EOF'
import os, sys
d = sys.argv[1]
h = 0xcbf29ce484222325
for name in sorted(f for f in os.listdir(d) if os.path.isfile(os.path.join(d, f))):
    for b in name.encode() + b"\0" + open(os.path.join(d, name), "rb").read() + b"\0":
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
print("%012x" % (h >> 16))
EOF
}
build_cert_manager() {
  local stage="$1" v="${2%%-launcher-*}" mod=github.com/cert-manager/cert-manager
  cp "$root"/harness/sim-go/cert-manager/* .
  local pinned
  pinned="$(go mod edit -json | python3 -c 'import json,sys; print(next(r["Version"] for r in json.load(sys.stdin)["Require"] if r["Path"] == sys.argv[1]))' "$mod")"
  if [ "$pinned" != "$v" ]; then
    echo "harness/sim-go/cert-manager/go.mod requires $mod $pinned but CERT_MANAGER_VERSION is $v;" >&2
    echo "run: (cd harness/sim-go/cert-manager && go get $mod@$v && go mod tidy)" >&2
    return 1
  fi
  GOFLAGS="-buildvcs=false -mod=readonly" go build -trimpath \
    -ldflags "$ldflags_common -X $mod/pkg/util.AppVersion=$v -X $mod/pkg/util.AppGitState=clean" \
    -o "$stage/bin/cert-manager-controller" .
  mkdir -p "$stage/crds"
  cp "$(moddir "$mod@$v")"/deploy/crds/*.yaml "$stage/crds/"
  chmod -R u+w "$stage/crds"
}

exec 3>&1
only="${SIM_TOOLS_ONLY:-etcd kubernetes kwok source-controller kustomize-controller helm-controller flagger cert-manager}"
for c in $only; do
  case "$c" in
    etcd) build etcd "$ETCD_VERSION" build_etcd ;;
    kubernetes) build kubernetes "$KUBERNETES_VERSION" build_kubernetes ;;
    kwok) build kwok "$KWOK_VERSION" build_kwok ;;
    source-controller) build source-controller "$SOURCE_CONTROLLER_VERSION" build_source_controller ;;
    kustomize-controller) build kustomize-controller "$KUSTOMIZE_CONTROLLER_VERSION" build_kustomize_controller ;;
    helm-controller) build helm-controller "$HELM_CONTROLLER_VERSION" build_helm_controller ;;
    flagger) build flagger "$FLAGGER_VERSION" build_flagger ;;
    cert-manager) build cert-manager "$CERT_MANAGER_VERSION-launcher-$(cert_manager_key)" build_cert_manager ;;
    *) echo "error: unknown component $c" >&2; exit 2 ;;
  esac
done
echo "sim-tools: all present in $cache (this run: $(( $(date +%s) - total_start ))s)"
