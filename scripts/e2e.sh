#!/usr/bin/env bash
# `make e2e`: bring up one shared harness cluster, run every scenario against it, tear it down.
# Needs a Docker Engine that can pull images (or BACKEND=existing with GITOPS_HARNESS_KUBECONFIG),
# git, and the backend's CLI (k3d or kind); the Flux CLI is installed here when missing (the
# embedded repo has no gotk-components.yaml, so `up` runs `flux install --export`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.tools/bin:$PATH"
"$root/scripts/install-flux.sh"
name="${GITOPS_HARNESS_E2E_CLUSTER:-gitops-harness-e2e}"
backend="${BACKEND:-k3s}"
export GITOPS_HARNESS_E2E=1 GITOPS_HARNESS_E2E_CLUSTER="$name"
state="${GITOPS_HARNESS_HOME:-${XDG_STATE_HOME:-$HOME/.local/state}/gitops-harness}/clusters/$name"
bin="$root/target/debug/gitops-harness"

cargo build -q -p gitops-harness
mkdir -p artifacts
# `up` stays in the foreground serving git to the cluster; run it in the background for the suites.
"$bin" up --backend "$backend" --name "$name" --reuse --artifacts artifacts/up >artifacts/up.log 2>&1 &
up_pid=$!
cleanup() {
  kill -INT "$up_pid" 2>/dev/null || true
  wait "$up_pid" 2>/dev/null || true
  if [ "${KEEP_CLUSTER:-0}" != 1 ] && [ "$backend" != existing ]; then
    "$bin" down --name "$name" || true
  fi
}
trap cleanup EXIT

echo "e2e: waiting for cluster $name to be ready (log: artifacts/up.log)"
deadline=$((SECONDS + ${E2E_UP_TIMEOUT:-1200}))
until [ -f "$state/ready" ]; do
  if ! kill -0 "$up_pid" 2>/dev/null; then
    echo "e2e: \`gitops-harness up\` exited before the cluster was ready:" >&2
    tail -n 50 artifacts/up.log >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "e2e: cluster not ready within ${E2E_UP_TIMEOUT:-1200}s; see artifacts/up.log" >&2
    exit 1
  fi
  sleep 5
done

cargo nextest run -p gitops-harness-suites --run-ignored all --no-fail-fast --profile "${NEXTEST_PROFILE:-ci}"
