#!/usr/bin/env bash
# Build the sim tier's programs from their Go modules into a cache outside the repo.
#
#   scripts/sim-tools.sh                          build what is missing, print each build's time
#   scripts/sim-tools.sh --print                  print the cache directory and exit
#   scripts/sim-tools.sh --keys                   print each component's cache entry and exit
#   scripts/sim-tools.sh --update-modules [NAME…] maintainers: regenerate harness/sim-go/NAME/
#                                                 go.mod and go.sum from the pins (then commit them)
#
# Versions and substitutions are pinned in harness/sim-versions.env (read by the harness too).
# Reproducible: etcd, Kubernetes and the Flux controllers build in a wrapper module whose go.mod
# and go.sum are committed (harness/sim-go/<name>/) with -mod=readonly, so nothing is resolved at
# build time; kwok and Flagger with `go install pkg@version` (their own go.mod and go.sum). Every
# module hash not pinned by a go.sum is checked against GOSUMDB=sum.golang.org.
#
# Cache: $GITOPS_HARNESS_SIM_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/gitops-harness/sim.
# Each component goes to <cache>/<name>-<version>-<key>/, where <key> is a hash of this script,
# the component's lines in sim-versions.env, its wrapper module files and the Go version (the
# harness computes the same: cluster::sim::toolset). It is built in a staging directory beside it
# and renamed into place only when complete, so an interrupted run leaves nothing half-built and
# the next run starts that component again. Nothing here is committed to the repo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
versions_env="$root/harness/sim-versions.env"
sim_go="$root/harness/sim-go"
# shellcheck source=../harness/sim-versions.env
source "$versions_env"

cache="${GITOPS_HARNESS_SIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-harness/sim}"
if [ "${1:-}" = "--print" ]; then echo "$cache"; exit 0; fi

if ! command -v go >/dev/null; then
  echo "error: Go is not installed; the sim tier builds its programs from Go modules." >&2
  echo "       Install Go ${GO_MIN} or newer (https://go.dev/doc/install), then run this again." >&2
  exit 2
fi

# The Go environment is explicit: a user's GOFLAGS, GOWORK or private-module settings must not
# change what is built. -mod=readonly: go.mod and go.sum are used as committed, never rewritten.
export GOFLAGS="-buildvcs=false -mod=readonly"
export CGO_ENABLED=0
# A lower toolchain in go.mod must not trigger a toolchain download.
export GOTOOLCHAIN=local
export GOWORK=off
# Hashes not in a committed go.sum (the modules `go install pkg@version` fetches) are checked
# against the public checksum database; the module proxy serves it (/sumdb/sum.golang.org/),
# so it works wherever the proxy does.
export GOSUMDB=sum.golang.org
unset GONOSUMDB GOPRIVATE GOINSECURE GONOPROXY
# Programs for this machine, as the release builds them for amd64/arm64 (no experiments).
unset GOOS GOARCH GOAMD64 GOARM64 GOEXPERIMENT
ldflags_common="-s -w"
# Asked from / so that no go.mod around the caller selects another toolchain.
goversion="$(cd / && go env GOVERSION)"

sha256() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi | cut -c1-64; }
# SOURCE_CONTROLLER for source-controller.
prefix_of() { echo "$1" | tr 'a-z-' 'A-Z_'; }
# The substitutions pinned for a component (space-separated entries).
substitutions_of() { local v; v="$(prefix_of "$1")_SUBSTITUTIONS"; echo "${!v:-}"; }

# Hashed once, at start: the key must name the script that runs, even if the file is replaced
# while it does.
script_sha="$(sha256 < "$root/scripts/sim-tools.sh")"

# What a component's cache key covers, as text (the harness builds the same text).
key_text() {
  local name="$1" f
  echo "gitops-harness sim-tools cache key 1"
  echo "script $script_sha"
  grep -E "^$(prefix_of "$name")_[A-Z0-9_]*=" "$versions_env" || true
  # Every file of its wrapper module, by name in byte order (go.mod and go.sum; the cert-manager
  # launcher's Go source too, so an edited launcher is rebuilt).
  if [ -d "$sim_go/$name" ]; then
    for f in $(cd "$sim_go/$name" && LC_ALL=C ls); do
      if [ -f "$sim_go/$name/$f" ]; then echo "sim-go/$name/$f $(sha256 < "$sim_go/$name/$f")"; fi
    done
  fi
  echo "go $goversion"
}
key_of() { key_text "$1" | sha256 | cut -c1-12; }

# A substitution entry in words, one line.
describe() {
  local refused="${1%%=>*}" with="${1#*=>}"
  local mod="${refused%@*}" ver="${refused#*@}"
  if [ "$with" = "drop-replace" ]; then
    echo "$mod@$ver is not served: its replace is dropped, the upstream module is used at the version go.mod requires (not the released build)"
  else
    echo "$mod $with instead of $ver (not served)"
  fi
}

all_components="etcd kubernetes kwok source-controller kustomize-controller helm-controller flagger cert-manager"
version_of_component() { local v; v="$(prefix_of "$1")_VERSION"; echo "${!v}"; }

if [ "${1:-}" = "--keys" ]; then
  for c in $all_components; do
    echo "$c $(version_of_component "$c") $c-$(version_of_component "$c")-$(key_of "$c")"
  done
  exit 0
fi

# Component → the module it builds from and, for wrapper modules, the packages it builds.
module_of() {
  case "$1" in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    kubernetes) echo k8s.io/kubernetes ;;
    kwok) echo sigs.k8s.io/kwok ;;
    flagger) echo github.com/fluxcd/flagger ;;
    cert-manager) echo github.com/cert-manager/cert-manager ;;
    *) echo "github.com/fluxcd/$1" ;;
  esac
}
tools_of() {
  case "$1" in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    kubernetes) echo k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler ;;
    *) echo "github.com/fluxcd/$1" ;;
  esac
}

# Module proxy lookups. `served MOD@VER`: the proxy hands out that version (zip included), asked
# with an empty module cache so that a copy cached earlier does not count.
served() {
  local tmp rc=0
  tmp="$(mktemp -d)"
  (cd "$tmp" && GOMODCACHE="$tmp/mod" GOFLAGS=-modcacherw go mod download -json "$1" > "$tmp/out.json" 2>&1) || rc=1
  rm -rf "$tmp"
  return "$rc"
}
# The highest version of MOD the proxy lists with VER's major.minor that is not newer than VER.
# Fails (with Go's message) when the proxy cannot be asked.
nearest_served() {
  local mod="$1" ver="$2" listed
  listed="$(cd / && go list -m -versions "$mod" 2>&1)" || { echo "$listed" >&2; return 1; }
  echo "$listed" | tr ' ' '\n' | tail -n +2 | python3 -c '
import sys
want = sys.argv[1]
def key(v):
    core = v.lstrip("v").split("-")[0].split("+")[0]
    return tuple(int(x) for x in core.split(".")[:3] if x.isdigit())
vs = [v.strip() for v in sys.stdin if v.strip() and "-" not in v.strip()]
ok = [v for v in vs if key(v)[:2] == key(want)[:2] and key(v) <= key(want)]
print(max(ok, key=key) if ok else "")
' "$ver"
}

# Check the pinned substitutions of a component against the module proxy, before building: each
# must still be needed and still be the one the rule picks. A mismatch stops with what to change.
check_substitutions() {
  local name="$1" subs entry bad=0 pin
  subs="$(substitutions_of "$name")"
  [ -n "$subs" ] || return 0
  pin="$(prefix_of "$name")_SUBSTITUTIONS in harness/sim-versions.env"
  if [ "${GOPROXY:-}" = "off" ]; then
    echo "sim-tools: $name: GOPROXY=off, the pinned substitutions are not checked against the module proxy"
    return 0
  fi
  for entry in $subs; do
    local refused="${entry%%=>*}" with="${entry#*=>}"
    local mod="${refused%@*}" ver="${refused#*@}"
    if served "$refused"; then
      echo "error: $name: the module proxy now serves $refused, which $pin substitutes;" >&2
      echo "       remove \"$entry\" from $pin, run \`scripts/sim-tools.sh --update-modules $name\` and commit harness/sim-go/$name/" >&2
      bad=1
      continue
    fi
    [ "$with" = "drop-replace" ] && continue
    local best
    if ! best="$(nearest_served "$mod" "$ver" 2> "$cache/.versions.err")"; then
      echo "error: $name: cannot ask the module proxy which versions of $mod it serves, to check $pin: $(cat "$cache/.versions.err")" >&2
      rm -f "$cache/.versions.err"
      bad=1
      continue
    fi
    rm -f "$cache/.versions.err"
    if [ "$best" != "$with" ]; then
      echo "error: $name: the nearest version of $mod the module proxy serves for $ver is now ${best:-none} (pinned: $with, in $pin);" >&2
      if [ -n "$best" ]; then
        echo "       change it to \"$refused=>$best\", run \`scripts/sim-tools.sh --update-modules $name\` and commit harness/sim-go/$name/" >&2
      else
        echo "       no served version fits: this release cannot be built from the module proxy; pin another $(prefix_of "$name")_VERSION" >&2
      fi
      bad=1
    elif ! served "$mod@$with"; then
      echo "error: $name: the module proxy refuses the pinned substitute $mod@$with ($pin); pin another version of $mod there or another $(prefix_of "$name")_VERSION" >&2
      bad=1
    fi
  done
  return "$bad"
}

# The committed wrapper module must be the one the pins describe (a version bumped in
# sim-versions.env without --update-modules would otherwise build the old one).
check_wrapper() {
  local name="$1" dir="$sim_go/$1"
  if [ ! -f "$dir/go.mod" ] || [ ! -f "$dir/go.sum" ]; then
    echo "error: $name: harness/sim-go/$name/go.mod or go.sum is missing; run \`scripts/sim-tools.sh --update-modules $name\` and commit them" >&2
    return 1
  fi
  python3 - "$dir/go.mod" "$(module_of "$name")" "$(version_of_component "$name")" "$(substitutions_of "$name")" <<'PY' || {
import re, sys
path, mod, ver, subs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
text = open(path).read()
def directive(word):
    out = []
    for m in re.finditer(r"^%s\s+\(\n(.*?)^\)" % word, text, re.S | re.M):
        out += [l.split("//")[0].strip() for l in m.group(1).splitlines()]
    out += [m.group(1).split("//")[0].strip() for m in re.finditer(r"^%s\s+([^(\n].*)$" % word, text, re.M)]
    return [l for l in out if l]
requires = dict(l.split()[:2] for l in directive("require"))
replaces = {}
for l in directive("replace"):
    old, new = [s.split() for s in l.split("=>")]
    replaces[old[0]] = new
problems = []
if requires.get(mod) != ver:
    problems.append(f"requires {mod} {requires.get(mod, '(nothing)')}, the pin is {ver}")
for s in subs:
    refused, with_ = s.split("=>")
    m, v = refused.rsplit("@", 1)
    if with_ == "drop-replace":
        if any(new[0] == m for new in replaces.values()):
            problems.append(f"still replaces a module with {m}")
    elif replaces.get(m) != [m, with_]:
        problems.append(f"does not replace {m} with {with_}")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
    echo "error: $name: harness/sim-go/$name/go.mod does not match harness/sim-versions.env (above); run \`scripts/sim-tools.sh --update-modules $name\` and commit harness/sim-go/$name/" >&2
    return 1
  }
}

# When a build fails because the proxy refuses a module: name it and say how to pin a substitution.
explain_refusals() {
  local name="$1" log="$2" refused mv
  refused="$(grep -oE '[^ :]+@v[^ :]+: reading [^ ]+: 403 Forbidden' "$log" | sed 's/: reading.*//' | sort -u || true)"
  [ -n "$refused" ] || return 0
  for mv in $refused; do
    local mod="${mv%@*}" ver="${mv#*@}" best
    best="$(nearest_served "$mod" "$ver" 2>/dev/null || true)"
    echo "error: $name: the module proxy refuses $mv, and harness/sim-versions.env pins no substitution for it;" >&2
    echo "       add \"$mv=>${best:-drop-replace}\" to $(prefix_of "$name")_SUBSTITUTIONS there (nearest served: ${best:-none}; drop-replace when it is the target of a replace)," >&2
    echo "       then run \`scripts/sim-tools.sh --update-modules $name\` and commit harness/sim-go/$name/" >&2
  done
}

total_start=$(date +%s)

# build NAME VERSION FUNCTION: run FUNCTION in a fresh staging dir unless the cache has it.
build() {
  local name="$1" version="$2" fn="$3"
  local key dest
  key="$(key_of "$name")"
  dest="$cache/$name-$version-$key"
  if [ -f "$dest/.complete" ]; then
    echo "sim-tools: $name $version cached ($dest)"
    if [ -s "$dest/substitutions.txt" ]; then
      echo "sim-tools: $name $version was built with substitutions:"
      sed 's/^/sim-tools:     /' "$dest/substitutions.txt"
    fi
    return 0
  fi
  local old
  for old in "$cache/$name-$version" "$cache/$name-$version"-*; do
    if [ -f "$old/.complete" ]; then
      echo "sim-tools: $name $version: $old was built from other inputs (this script, its sim-versions.env lines, its module files or Go changed); building $dest (remove the old one when nothing uses it)"
    fi
  done
  if [ -d "$sim_go/$name" ]; then check_wrapper "$name" || exit 1; fi
  check_substitutions "$name" || exit 1
  local stage="$cache/.staging-$name-$version-$key.$$"
  rm -rf "$stage"
  mkdir -p "$stage/bin" "$stage/src"
  # Remove the staging dir on interrupt; the cache entry only appears on success.
  trap 'rm -rf "$stage"' EXIT INT TERM
  local start
  start=$(date +%s)
  echo "sim-tools: building $name $version (key $key, $goversion) ..."
  # A background subshell keeps `set -e` in force inside the build function (it is ignored in
  # any command that is part of an `||` list).
  ( set -e; cd "$stage/src"; "$fn" "$stage" "$version" ) > "$stage/build.log" 2>&1 &
  if ! wait $! || [ -z "$(ls -A "$stage/bin")" ]; then
    cp "$stage/build.log" "$cache/$name-$version.failed.log"
    echo "error: building $name $version failed; last lines of $cache/$name-$version.failed.log:" >&2
    grep -v '^go: downloading' "$stage/build.log" | tail -30 >&2
    explain_refusals "$name" "$stage/build.log"
    exit 1
  fi
  # Recorded in the entry, so a cache hit (and `gitops-harness sim tools`) can say it too.
  local entry
  : > "$stage/substitutions.txt"
  for entry in $(substitutions_of "$name"); do describe "$entry" >> "$stage/substitutions.txt"; done
  if [ -s "$stage/substitutions.txt" ]; then
    echo "sim-tools: $name $version: the module proxy does not serve some pinned dependencies; built with:"
    sed 's/^/sim-tools:     /' "$stage/substitutions.txt"
  fi
  key_text "$name" > "$stage/key.txt"
  # The programs' hashes: two builds from the same key are byte-identical (-trimpath, fixed metadata).
  local f
  for f in "$stage"/bin/*; do echo "$(sha256 < "$f")  ${f##*/}"; done > "$stage/bin.sha256"
  rm -rf "$stage/src"
  local secs=$(( $(date +%s) - start ))
  echo "$secs" > "$stage/build-seconds"
  touch "$stage/.complete"
  rm -rf "$dest"
  mv "$stage" "$dest"
  trap - EXIT INT TERM
  echo "sim-tools: built $name $version in ${secs}s"
}

# Directory of a module in the module cache (downloading it): for `go install` builds.
moddir() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
# Directory of a module of the current (wrapper) build, already downloaded by the build.
builddir() { go list -m -f '{{.Dir}}' "$1"; }

# Copy a committed wrapper module into the staging source dir and build its packages there.
build_wrapper() {
  local stage="$1" name="$2"; shift 2
  cp "$sim_go/$name/go.mod" "$sim_go/$name/go.sum" .
  local pkg
  for pkg in $(tools_of "$name"); do
    local s
    s=$(date +%s)
    local out
    out="$(basename "$pkg")"
    # etcd's server module is go.etcd.io/etcd/server/v3: its program is etcd.
    [ "$pkg" = go.etcd.io/etcd/server/v3 ] && out=etcd
    go build -mod=readonly -trimpath -ldflags "$ldflags_common $*" -o "$stage/bin/$out" "$pkg"
    echo "sim-tools:   $out in $(( $(date +%s) - s ))s" >&3
  done
}

build_etcd() {
  local stage="$1"
  build_wrapper "$stage" etcd
}

build_kubernetes() {
  local stage="$1" v="$2" minor ld=""
  minor="${v#v1.}"; minor="${minor%%.*}"
  # Without these the binaries say v0.0.0-master, which Flagger's start-up check rejects. The
  # commit and date are the release's (sim-versions.env), never the build's: builds are identical.
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitCommit=$KUBERNETES_GIT_COMMIT -X $pkg.gitTreeState=clean -X $pkg.buildDate=$KUBERNETES_BUILD_DATE"
  done
  build_wrapper "$stage" kubernetes "$ld"
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

# Flux controllers: the wrapper requires the released module; its ./api replace is not carried
# over (the api module at the version the release requires is used), nor are the substitutions'.
build_flux_controller() {
  local stage="$1" name="$2"
  build_wrapper "$stage" "$name"
  local d
  d="$(builddir "$(module_of "$name")")"
  mkdir -p "$stage/crds"
  cp "$d"/config/crd/bases/*.yaml "$stage/crds/"
  chmod -R u+w "$stage/crds"
}
build_source_controller() { build_flux_controller "$1" source-controller; }
build_kustomize_controller() { build_flux_controller "$1" kustomize-controller; }
build_helm_controller() { build_flux_controller "$1" helm-controller; }

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
# is a nested module the proxy does not serve). Its committed go.mod/go.sum pin every module
# (check_wrapper has checked it requires CERT_MANAGER_VERSION); its Go source is in the cache key.
# CRDs: the module's deploy/crds (the same schemas its chart renders with crds.enabled=true).
build_cert_manager() {
  local stage="$1" v="$2" mod=github.com/cert-manager/cert-manager
  cp "$sim_go"/cert-manager/* .
  go build -mod=readonly -trimpath \
    -ldflags "$ldflags_common -X $mod/pkg/util.AppVersion=$v -X $mod/pkg/util.AppGitState=clean" \
    -o "$stage/bin/cert-manager-controller" .
  mkdir -p "$stage/crds"
  cp "$(builddir "$mod")"/deploy/crds/*.yaml "$stage/crds/"
  chmod -R u+w "$stage/crds"
}

# --update-modules: regenerate a wrapper module from the pins. This is the one place where Go
# resolves versions (go mod tidy); the result is reviewed and committed like a lock file.
update_module() {
  local name="$1" mod version work
  mod="$(module_of "$name")"
  version="$(version_of_component "$name")"
  work="$(mktemp -d)"
  echo "sim-tools: updating harness/sim-go/$name ($mod $version) ..."
  (
    set -e
    cd "$work"
    export GOFLAGS="-buildvcs=false -mod=mod"
    go mod init "sim.local/$name" 2>/dev/null
    local upstream
    upstream="$(go mod download -json "$mod@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
    # The release's own go.mod decides, as in its release build: its go line, its non-local
    # replaces and its godebug settings are carried over; local ones are not (Kubernetes' ./staging/src/X becomes
    # the published X at v0.Y.Z, any other local replace is dropped).
    local args
    mapfile -t args < <(go mod edit -json "$upstream" | python3 -c '
import json, sys
d = json.load(sys.stdin)
mod, version, subs = sys.argv[1], sys.argv[2], sys.argv[3].split()
drop = {s.split("=>")[0].rsplit("@", 1)[0] for s in subs if s.endswith("=>drop-replace")}
print(f"-require={mod}@{version}")
# Its go line too: with godebug, it decides the GODEBUG defaults of the program.
print("-go=" + d["Go"])
for r in d.get("Replace") or []:
    old, new = r["Old"]["Path"], r["New"]
    staging = "v0." + version[len("v1."):]
    if new["Path"].startswith("./staging/src/"):
        print("-replace=%s=%s@%s" % (old, old, staging))
    elif new["Path"].startswith((".", "/")) or new["Path"] in drop:
        continue
    else:
        o = old + ("@" + r["Old"]["Version"] if r["Old"].get("Version") else "")
        print("-replace=%s=%s@%s" % (o, new["Path"], new["Version"]))
for g in d.get("GoDebug") or []:
    print("-godebug=%s=%s" % (g["Key"], g["Value"]))
for s in subs:
    refused, with_ = s.split("=>")
    if with_ != "drop-replace":
        m = refused.rsplit("@", 1)[0]
        print(f"-replace={m}={m}@{with_}")
' "$mod" "$version" "$(substitutions_of "$name")")
    local pkg
    for pkg in $(tools_of "$name"); do args+=("-tool=$pkg"); done
    go mod edit "${args[@]}"
    go mod tidy > tidy.log 2>&1 || { cat tidy.log; explain_refusals "$name" tidy.log; exit 1; }
  ) || { rm -rf "$work"; echo "error: updating harness/sim-go/$name failed (above)" >&2; return 1; }
  mkdir -p "$sim_go/$name"
  cp "$work/go.mod" "$work/go.sum" "$sim_go/$name/"
  rm -rf "$work"
  echo "sim-tools: wrote harness/sim-go/$name/go.mod and go.sum; review and commit them"
}

if [ "${1:-}" = "--update-modules" ]; then
  shift
  names=("$@")
  [ ${#names[@]} -gt 0 ] || names=(etcd kubernetes source-controller kustomize-controller helm-controller)
  for n in "${names[@]}"; do
    case "$n" in
      etcd|kubernetes|source-controller|kustomize-controller|helm-controller) update_module "$n" ;;
      cert-manager) echo "error: harness/sim-go/cert-manager is our own launcher: update it with \`(cd harness/sim-go/cert-manager && go get github.com/cert-manager/cert-manager@\$CERT_MANAGER_VERSION && go mod tidy)\`" >&2; exit 2 ;;
      *) echo "error: $n has no wrapper module (kwok and flagger build with \`go install pkg@version\`)" >&2; exit 2 ;;
    esac
  done
  exit 0
fi

mkdir -p "$cache"
echo "sim-tools: $goversion, GOPROXY=$(go env GOPROXY), GOSUMDB=$GOSUMDB, cache $cache"
exec 3>&1
only="${SIM_TOOLS_ONLY:-$all_components}"
for c in $only; do
  case "$c" in
    etcd) build etcd "$ETCD_VERSION" build_etcd ;;
    kubernetes) build kubernetes "$KUBERNETES_VERSION" build_kubernetes ;;
    kwok) build kwok "$KWOK_VERSION" build_kwok ;;
    source-controller) build source-controller "$SOURCE_CONTROLLER_VERSION" build_source_controller ;;
    kustomize-controller) build kustomize-controller "$KUSTOMIZE_CONTROLLER_VERSION" build_kustomize_controller ;;
    helm-controller) build helm-controller "$HELM_CONTROLLER_VERSION" build_helm_controller ;;
    flagger) build flagger "$FLAGGER_VERSION" build_flagger ;;
    cert-manager) build cert-manager "$CERT_MANAGER_VERSION" build_cert_manager ;;
    *) echo "error: unknown component $c" >&2; exit 2 ;;
  esac
done
echo "sim-tools: all present in $cache (this run: $(( $(date +%s) - total_start ))s)"
