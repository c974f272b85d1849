//! The harness's integration tests that need no sim cluster of their own, one module per area,
//! in one test binary (one build and link; nextest still runs each test in its own process).
//! The tests that start their own sim cluster or Docker Engine objects, and report themselves
//! ignored with a reason when those are missing, are libtest-mimic binaries beside this one.

use gitops_harness_testkit as common;

mod abtest_local_ingress;
mod bootstrap_manifests;
mod canary_change_and_observe;
mod canary_live_fake_apiserver;
mod canary_recordings;
mod canary_replay;
mod certs_linkerd;
mod check_fixtures;
mod check_layouts;
mod check_reference;
mod crds_reference;
mod drift_check;
mod drift_cli;
mod drift_compute;
mod drift_git_side;
mod drift_live_fake_apiserver;
mod gateway_standins;
mod gitops_change_commit;
mod gitops_change_fake_apiserver;
mod gitops_change_served;
mod gitserver_git;
mod readiness_replay;
mod readiness_watch_fake_apiserver;
mod render_kubectl;
mod render_layouts;
mod sim_tools_script;
mod up_cli;
mod yaml_edit_minimal_diff;
