//! gitops-harness: end-to-end test harness and demo provisioner for Flux + Flagger + Linkerd
//! GitOps stacks. The library holds every capability; the `gitops-harness` binary is a thin CLI.
//!
//! Modules by layer, lower layers never importing higher ones:

// --- vocabulary: Flux objects and revisions, exit codes, the state on this machine ---
pub mod exit;
pub mod flux;
pub mod state;

// --- the repository: its model, `check`, `render`, the bootstrap plan (no cluster needed) ---
pub mod check;
pub mod crds;
pub mod embedded;
pub mod envsubst;
pub mod flagger_setup;
pub mod flux_versions;
pub mod graph;
pub mod render;
pub mod repo;
pub mod tools;
pub mod yaml_docs;

// --- git: the runner, working copies, revisions, the server a cluster pulls from ---
pub mod git;
pub mod sources;

// --- clusters: backends (sim under cluster/), reaching them, bootstrapping Flux ---
pub mod bootstrap;
pub mod certs;
pub mod cluster;
pub mod docker;
pub mod kinds;
pub mod kubeconfig;
pub mod labels;
pub mod lifecycle;
pub mod live;
pub mod preflight;
pub mod readiness;
pub mod source_fetch;

// --- Flagger and scenarios driven through git ---
pub mod flagger;
pub mod scenarios;

// --- orchestration and reports ---
pub mod reports;
pub mod up;
pub mod upgrade;
