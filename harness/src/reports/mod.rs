//! What a run leaves for people and CI: failure artifacts (objects, events, logs, a summary)
//! and live progress lines.

pub mod artifacts;
pub mod progress;
