//! Scenarios driven through git: minimal-diff YAML edits ([`yaml_edit`]), git-driven changes
//! reconciled by Flux ([`gitops_change`]), and drift between git and the cluster ([`drift`]).

pub mod drift;
pub mod gitops_change;
pub mod workload_edit;
pub mod yaml_edit;
