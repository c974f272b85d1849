//! gitops-harness: end-to-end test harness and demo provisioner for Flux + Flagger + Linkerd
//! GitOps stacks. The library holds every capability; the `gitops-harness` binary is a thin CLI.

// --- repository understanding (no cluster needed) ---
pub mod check;
pub mod crds;
pub mod embedded;
pub mod envsubst;
pub mod exit;
pub mod flagger_setup;
pub mod flux;
pub mod flux_versions;
pub mod graph;
pub mod kinds;
pub mod render;
pub mod repo;
pub mod tools;
pub mod yaml_docs;

// --- provisioning (Docker, clusters, git server, bootstrap) ---
pub mod artifacts;
pub mod bootstrap;
pub mod certs;
pub mod cluster;
pub mod docker;
pub mod git;
pub mod kubeconfig;
pub mod labels;
pub mod lifecycle;
pub mod preflight;
pub mod progress;
pub mod readiness;
pub mod source_fetch;
pub mod sources;
pub mod state;
pub mod up;
pub mod upgrade;

// --- scenarios (git-driven changes, canaries, drift) ---
pub mod abtest;
pub mod canary;
pub mod drift;
pub mod gitops_change;
pub mod live;
pub mod quantity;
pub mod yaml_edit;
