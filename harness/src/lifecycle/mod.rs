//! The life of what the harness starts: stop signals ([`signals`]) and cleanup of what a run
//! created ([`cleanup`]: leftovers, `down`, `reap`).

pub mod cleanup;
pub mod signals;
