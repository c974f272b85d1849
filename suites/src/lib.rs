//! Shared scenario-suite plumbing.
