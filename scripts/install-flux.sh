#!/usr/bin/env bash
# Install the Flux CLI into .tools/bin (what `gitops-harness up` runs as `flux install --export`
# when the repo has no flux-system/gotk-components.yaml, as the embedded one does).
# Pinned to the Flux release `check` targets and the sim tier runs (2.9: source-controller v1.9.4);
# FLUX_VERSION overrides. The tarball is checked against the release's checksums file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/bin"
version="${FLUX_VERSION:-2.9.4}"
if command -v flux >/dev/null 2>&1; then
  echo "tools: flux already on PATH ($(command -v flux))"
  exit 0
fi
if [ -x "$dest/flux" ]; then
  echo "tools: flux already in $dest"
  exit 0
fi
case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) echo "install-flux: unsupported OS $(uname -s); install the Flux CLI: https://fluxcd.io/flux/installation/" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  armv7l) arch=arm ;;
  *) echo "install-flux: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
base="https://github.com/fluxcd/flux2/releases/download/v${version}"
tarball="flux_${version}_${os}_${arch}.tar.gz"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
curl -fsSL -o "$work/$tarball" "$base/$tarball"
curl -fsSL -o "$work/checksums.txt" "$base/flux_${version}_checksums.txt"
expected="$(grep " ${tarball}\$" "$work/checksums.txt" | cut -d' ' -f1)"
if command -v sha256sum >/dev/null 2>&1; then
  actual="$(sha256sum "$work/$tarball" | cut -d' ' -f1)"
else
  actual="$(shasum -a 256 "$work/$tarball" | cut -d' ' -f1)"
fi
if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then
  echo "install-flux: checksum mismatch for $tarball (expected '${expected}', got '${actual}')" >&2
  exit 1
fi
mkdir -p "$dest"
tar -xzf "$work/$tarball" -C "$work" flux
install -m 0755 "$work/flux" "$dest/flux"
"$dest/flux" version --client
