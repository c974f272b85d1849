//! The life of what the harness starts: stop signals ([`signals`]) and cleanup of what a run
//! created ([`cleanup`]: leftovers, `down`, `reap`), temporary directories that name their
//! owner process ([`owner`]).

pub mod cleanup;
pub mod owner;
pub mod signals;
