//! The Flux vocabulary, defined once: object identity ([`ObjectRef`]), the API resources the
//! harness reads and writes ([`api`]), revisions as Flux writes them ([`revision`]), status
//! conditions ([`conditions`]), typed source references ([`SourceRef`]) and reconcile requests
//! ([`reconcile`]). Everything above (the repo model, readiness, drift, git-driven changes,
//! upgrades, the suites) speaks this vocabulary instead of reading JSON by hand.

pub mod api;
pub mod conditions;
pub mod object;
pub mod reconcile;
pub mod revision;
pub mod source_ref;

pub use object::ObjectRef;
pub use revision::Revision;
pub use source_ref::SourceRef;

/// The namespace and name of a Flux bootstrap's own objects (`flux-system/flux-system`).
pub const FLUX_SYSTEM: &str = "flux-system";
