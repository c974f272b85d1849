//! What the loader finds wrong on its way, for `check` to report, and the errors that make a
//! repository unusable.

use std::path::PathBuf;

use super::model::{ObjectRef, Origin};

/// Something wrong found while loading, for `check` to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadIssue {
    /// A YAML file does not parse.
    InvalidYaml {
        /// Where.
        origin: Origin,
        /// Parser message with location.
        message: String,
    },
    /// A file or directory cannot be read.
    Unreadable {
        /// Where.
        origin: Origin,
        /// Why.
        message: String,
    },
    /// A kustomize `resources` / `components` entry does not exist (or is a directory without a
    /// kustomization file, which kustomize cannot build).
    MissingResource {
        /// The line naming it.
        origin: Origin,
        /// The entry as written.
        entry: String,
        /// What is wrong with it, in kustomize's words.
        reason: &'static str,
    },
    /// A kustomize patch file does not exist.
    MissingPatch {
        /// The kustomization.yaml line naming it.
        origin: Origin,
        /// The entry as written.
        entry: String,
    },
    /// A configMapGenerator/secretGenerator file does not exist.
    MissingGeneratorFile {
        /// The kustomization.yaml line naming it.
        origin: Origin,
        /// Generator name.
        generator: String,
        /// The file as written.
        file: String,
    },
    /// A generator's inputs add up to more than a ConfigMap/Secret may hold.
    GeneratorTooLarge {
        /// The generator's line.
        origin: Origin,
        /// Generator name.
        generator: String,
        /// Total bytes of its files.
        bytes: u64,
    },
    /// A Flux Kustomization's `path` does not exist in its (local) source.
    MissingPath {
        /// The Kustomization.
        key: ObjectRef,
        /// Where it is written.
        origin: Origin,
        /// The path as written.
        path: String,
    },
    /// A Flux Kustomization's `path` holds a `${var}` that the repo does not define.
    UnresolvedPath {
        /// The Kustomization.
        key: ObjectRef,
        /// Where it is written.
        origin: Origin,
        /// The path as written.
        path: String,
    },
    /// A reference climbs above the repository root (`../..`, an absolute path, or a symlink
    /// out): kustomize-controller refuses it and so does the loader.
    OutsideRepo {
        /// The line naming it.
        origin: Origin,
        /// The entry as written.
        entry: String,
        /// Where it leads.
        target: PathBuf,
    },
    /// kustomize `resources`/`components` form a cycle.
    ResourceCycle {
        /// The entry that closes the cycle.
        origin: Origin,
        /// The directories of the cycle, first to last (the first is repeated by the renderer).
        cycle: Vec<PathBuf>,
    },
    /// A ResourceSet the operator would refuse to build (template or output error).
    ResourceSetInvalid {
        /// The ResourceSet.
        key: ObjectRef,
        /// The entry at fault.
        origin: Origin,
        /// What is wrong (the operator's words where it has them).
        message: String,
    },
    /// Part of what a ResourceSet generates is only known in the cluster (dynamic input
    /// providers) or uses what this check does not implement: not checked.
    ResourceSetPartial {
        /// The ResourceSet.
        key: ObjectRef,
        /// The entry concerned.
        origin: Origin,
        /// What is not known.
        message: String,
    },
    /// A kustomize `resources` entry fetched from the network at build time.
    RemoteResource {
        /// The line naming it.
        origin: Origin,
        /// The entry as written.
        entry: String,
    },
    /// Two documents define the same Flux Kustomization or HelmRelease.
    Duplicate {
        /// The object.
        key: ObjectRef,
        /// The second definition.
        origin: Origin,
        /// The first definition.
        first: Origin,
    },
}

/// Errors that make a repo unusable.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The root does not exist.
    #[error("{0}: no such file or directory; pass the root of a gitops repository")]
    NotFound(PathBuf),
    /// The root is not a directory.
    #[error("{0}: not a directory; pass the root of a gitops repository")]
    NotADirectory(PathBuf),
    /// The cluster directory does not exist.
    #[error("cluster directory {dir} does not exist under {root}; pass --cluster-dir with one of: {choices}")]
    NoClusterDir {
        /// Root.
        root: PathBuf,
        /// The directory asked for.
        dir: PathBuf,
        /// Candidate directories under `clusters/`.
        choices: String,
    },
    /// The cluster directory is outside the repository (Flux can only sync paths inside it).
    #[error(
        "cluster directory {dir} is outside the repository {root}; pass a directory inside it (relative to the root), e.g. one of: {choices}"
    )]
    ClusterDirOutside {
        /// Root.
        root: PathBuf,
        /// The directory asked for.
        dir: PathBuf,
        /// Candidate directories under `clusters/`.
        choices: String,
    },
    /// Several cluster directories and none chosen: loading them together would mix clusters.
    #[error("{root} has several cluster directories ({choices}); pass --cluster-dir with the one to check")]
    AmbiguousClusterDir {
        /// Root.
        root: PathBuf,
        /// Candidate directories under `clusters/`.
        choices: String,
    },
}
