#!/usr/bin/env bash
# `make test`: every test this machine can run (arguments go to `cargo nextest run`, e.g. a filter).
#   1. build every test binary (the only step that needs crates.io);
#   2. when the sim tools are built (scripts/sim-tools.sh), bring up one shared sim cluster for
#      the scenario suites: the workshop repository's clusters/my-cluster, unchanged, with its
#      real charts replayed from a cassette recorded here (upstream-cassette);
#   3. run nextest; 4. stop the cluster (`down`), whatever happened.
# Steps 2-4 run inside a network namespace that has only loopback when this user may create one
# (root: `unshare --net`): no process of the sim tier can reach anything off this machine, and a
# dial to a fake ClusterIP or pod IP fails at once. Elsewhere they run as they are, with a warning.
# With GITOPS_HARNESS_NETNS (a /proc/PID/ns/net path; .ci/run sets it) they run in that namespace
# instead: one with only loopback and the Docker Engine .ci/run started there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# Only the cluster this script brings up: a cluster named by the caller's environment (the
# suites' GITOPS_HARNESS_KUBECONFIG, a KUBECONFIG) must never be patched by a scenario.
unset GITOPS_HARNESS_KUBECONFIG GITOPS_HARNESS_E2E_CLUSTER GITOPS_HARNESS_E2E KUBECONFIG GITOPS_HARNESS_HOME
cd "$root"
profile="${NEXTEST_PROFILE:-ci}"

if [ "${GITOPS_HARNESS_IN_NETNS:-}" != "1" ]; then
  echo "== build (test binaries)"
  cargo build --workspace --bins
  cargo nextest run --workspace --profile "$profile" --no-run
  if [ -n "${GITOPS_HARNESS_NETNS:-}" ]; then
    # .ci/run made one, with a Docker Engine inside (its bridges are the only other interfaces).
    echo "== tests, in the network namespace $GITOPS_HARNESS_NETNS (loopback and the Docker Engine's own networks)"
    exec nsenter --net="$GITOPS_HARNESS_NETNS" -- env GITOPS_HARNESS_IN_NETNS=1 "$0" "$@"
  fi
  if [ "$(id -u)" = "0" ] && unshare --net true 2>/dev/null; then
    echo "== tests, in a network namespace with only loopback"
    exec unshare --net -- env GITOPS_HARNESS_IN_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
  fi
  echo "warning: cannot create a network namespace (needs root and unshare); running the sim tier on the host network" >&2
fi

bin="${CARGO_TARGET_DIR:-$root/target}/debug/gitops-harness"
state="$(mktemp -d -t gitops-harness-test.XXXXXX)"
export GITOPS_HARNESS_HOME="$state"
export CARGO_NET_OFFLINE=true
sim_name=gitops-harness-sim
up_status=0
cleanup() {
  if [ -f "$state/clusters/$sim_name/sim.json" ]; then
    echo "== down: $sim_name"
    "$bin" down --name "$sim_name" || true
  fi
  rm -rf "$state"
}
trap cleanup EXIT

if sim_missing="$("$bin" sim tools --check 2>&1)"; then
  echo "== sim cluster for the scenario suites"
  # The suites and the sim tests then must run: a missing cluster or tool fails them instead
  # of ignoring them.
  export GITOPS_HARNESS_E2E_CLUSTER="$sim_name" GITOPS_HARNESS_E2E=1 GITOPS_HARNESS_REQUIRE_SIM=1
  start=$(date +%s)
  # The workshop repository as it is, with the real upstream charts: recorded into a cassette
  # from a loopback stand-in that serves the charts of shared/reference/charts (packaged now).
  cassette="$state/cassette"
  if ! "$(dirname "$bin")/upstream-cassette" fixtures/gitops-linkerd clusters/my-cluster "$cassette" >"$state/record.log" 2>&1; then
    cat "$state/record.log" >&2
    echo "error: recording the workshop cassette failed; the scenario suites will fail" >&2
    up_status=1
  fi
  echo "workshop cassette: $(du -sh "$cassette" 2>/dev/null | cut -f1) recorded in $(( $(date +%s) - start ))s"
  if [ "$up_status" = 0 ] && ! "$bin" up --backend sim --name "$sim_name" --repo fixtures/gitops-linkerd \
      --cluster-dir clusters/my-cluster --cassette "$cassette" --timeout 600 --artifacts "$root/artifacts"; then
    up_status=1
    echo "error: gitops-harness up --backend sim failed; the scenario suites will fail with its reason" >&2
  fi
  echo "sim cluster: up took $(( $(date +%s) - start ))s"
else
  echo "note: no sim cluster, the scenario suites report themselves ignored: $sim_missing"
fi

echo "== tests"
set +e
cargo nextest run --workspace --no-fail-fast --profile "$profile" "$@"
status=$?
set -e
if [ "$status" = 0 ] && [ "$up_status" != 0 ]; then status=1; fi
exit "$status"
