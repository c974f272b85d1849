//! gitops-harness: end-to-end test harness and demo provisioner for Flux + Flagger + Linkerd
//! GitOps stacks. The library holds every capability; the `gitops-harness` binary is a thin CLI.

// --- repository understanding (no cluster needed) ---
pub mod yaml_docs;
pub mod repo;
pub mod graph;
pub mod crds;
pub mod flux_versions;
pub mod check;
pub mod tools;
pub mod render;
pub mod embedded;

// --- provisioning (Docker, clusters, git server, bootstrap) ---
pub mod labels;
pub mod docker;
pub mod cluster;
pub mod kubeconfig;
pub mod preflight;
pub mod gitserver;
pub mod certs;
pub mod bootstrap;
pub mod readiness;
pub mod progress;
pub mod artifacts;
pub mod up;

// --- scenarios (git-driven changes, canaries, drift) ---
pub mod yaml_edit;
pub mod gitops_change;
pub mod quantity;
pub mod canary;
pub mod abtest;
pub mod drift;
pub mod live;
