//! Scenario suites for gitops-harness: one libtest-mimic trial per scenario, nextest compatible.
//!
//! Every scenario needs a live cluster bootstrapped by the harness. Whether one is there is decided
//! at runtime ([`availability`]); when none is, every scenario is listed as ignored and the reason is
//! printed, so neither `cargo test` nor `cargo nextest run` can pass one silently.

pub mod availability;
pub mod junit;
pub mod lanes;
pub mod runner;
pub mod scenarios;
pub mod world;
