//! Minimal-diff edits of a user's YAML: change one scalar (or add one list entry / key) and leave
//! every other byte — comments, quoting, indentation, document separators — exactly as it was.
//!
//! How: parse with `yaml-rust2`'s event parser (which reports where each node starts), build a
//! small position-aware tree, find the byte span of the target scalar, splice only that text, then
//! re-parse the whole file with `serde_norway` and check that the value at the path is the new one.
//!
//! Paths look like `spec.template.spec.containers[name=face].image`: `.key`, `[3]` (index),
//! `[key=value]` (the list item whose `key` is `value`), `["a.b/c"]` (a key with dots), and `|`
//! after a segment whose value is a block scalar holding YAML (a kustomize inline `patch: |`), to
//! continue inside it: `spec.patches[0].patch|[0].value.value`.

// Errors carry file, document and path context for the message; edits are not a hot path.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Errors of YAML edits; each names the file, the document, the path and what was found.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Reading or writing the file failed.
    #[error("{file}: {source}")]
    Io {
        /// File involved.
        file: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not valid YAML (before or after the edit).
    #[error("{file}:{line}:{col}: YAML does not parse: {message}; fix the file before editing it")]
    Parse {
        /// File.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// Parser message.
        message: String,
    },
    /// No document matches the selector.
    #[error("{file}: no document {selector}; the file has: {found}")]
    DocNotFound {
        /// File.
        file: PathBuf,
        /// What was asked for.
        selector: String,
        /// What the file holds (kind/name per document).
        found: String,
    },
    /// The path syntax is wrong.
    #[error("invalid YAML path `{path}`: {message} (expected e.g. `spec.containers[name=app].image`, `a[0]`, `[\"a.b\"]`)")]
    BadPath {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The path does not lead to a node.
    #[error("{file}: document {doc}: path `{path}`: at `{at}` {expected}, found {found}")]
    PathNotFound {
        /// File.
        file: PathBuf,
        /// Document description.
        doc: String,
        /// Full path.
        path: String,
        /// Prefix of the path that was resolved.
        at: String,
        /// What the next segment needed.
        expected: String,
        /// What is there instead.
        found: String,
    },
    /// The target exists but cannot be edited in place with a minimal diff.
    #[error("{file}:{line}: document {doc}: path `{path}`: {message}")]
    Unsupported {
        /// File.
        file: PathBuf,
        /// Document description.
        doc: String,
        /// Path.
        path: String,
        /// 1-based line of the node.
        line: usize,
        /// Why.
        message: String,
    },
    /// After the splice the file did not hold the expected value (a bug in the editor; the file
    /// was not written).
    #[error(
        "{file}: document {doc}: path `{path}`: after the edit the value is {found}, expected {expected}; the file was left unchanged (please report this)"
    )]
    Verify {
        /// File.
        file: PathBuf,
        /// Document description.
        doc: String,
        /// Path.
        path: String,
        /// Expected value.
        expected: String,
        /// Found value.
        found: String,
    },
}

mod diff;
mod editor;
mod path;
mod span;
mod text;
mod tree;

pub use super::workload_edit::split_image;
pub use diff::{changed_lines, unified_diff};
pub use editor::YamlEditor;
pub use path::{ContainerSel, Segment, parse_path, path_to_string};
use span::*;
pub use span::{parse_all, plain_is_safe};
use text::*;
use tree::*;

/// What the workload edits (`scenarios::workload_edit`) build on: the tree and span layer.
pub(crate) mod internals {
    pub(crate) use super::span::*;
    pub(crate) use super::text::*;
    pub(crate) use super::tree::*;
    pub(crate) use super::{Segment, path_to_string};
}

/// Which document of a multi-document file to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocSelector {
    /// The n-th document (0-based, counting empty documents too).
    Index(usize),
    /// The document with this `kind` and `metadata.name` (the first one if several).
    Object {
        /// `kind`, e.g. `Deployment`.
        kind: String,
        /// `metadata.name`.
        name: String,
    },
}

impl DocSelector {
    /// Select by `kind` and `metadata.name`.
    pub fn object(kind: &str, name: &str) -> DocSelector {
        DocSelector::Object { kind: kind.to_string(), name: name.to_string() }
    }
}

impl fmt::Display for DocSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocSelector::Index(i) => write!(f, "#{i}"),
            DocSelector::Object { kind, name } => write!(f, "{kind} {name}"),
        }
    }
}

/// A new scalar value.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    /// A string (quoted when it would otherwise read as a number, bool, null...).
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for ScalarValue {
    fn from(s: &str) -> Self {
        ScalarValue::Str(s.to_string())
    }
}
impl From<String> for ScalarValue {
    fn from(s: String) -> Self {
        ScalarValue::Str(s)
    }
}
impl From<i64> for ScalarValue {
    fn from(n: i64) -> Self {
        ScalarValue::Int(n)
    }
}
impl From<bool> for ScalarValue {
    fn from(b: bool) -> Self {
        ScalarValue::Bool(b)
    }
}

impl ScalarValue {
    fn to_json(&self) -> serde_json::Value {
        match self {
            ScalarValue::Str(s) => serde_json::Value::String(s.clone()),
            ScalarValue::Int(n) => serde_json::Value::from(*n),
            ScalarValue::Bool(b) => serde_json::Value::Bool(*b),
        }
    }
}
