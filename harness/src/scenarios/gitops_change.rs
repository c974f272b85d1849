//! A git-driven change: minimal-diff edits in the served repository, one commit, a reconcile
//! request exactly like `flux reconcile kustomization X --with-source`, and a watch until the
//! Kustomization has applied the new commit (`status.lastAppliedRevision`) and is Ready.

// Errors carry file, object and revision context for the message; not a hot path.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::flux::api::{self, Resource};
use crate::flux::{ObjectRef, Revision, conditions, reconcile};
use crate::git::{GitDir, GitError, WorkingCopy, revisions};
use crate::scenarios::yaml_edit::{ContainerSel, DocSelector, EditError, ScalarValue, YamlEditor};

/// Errors of a git-driven change.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// An edit failed (names file, document, path).
    #[error(transparent)]
    Edit(#[from] EditError),
    /// The change edits nothing (every value already as requested).
    #[error("the change `{0}` edits nothing: every value is already as requested; nothing was committed")]
    NoChange(String),
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// Talking to the cluster failed.
    #[error("{action}: {source}")]
    Kube {
        /// What we were doing.
        action: String,
        /// Error.
        source: kube::Error,
    },
    /// Our deadline passed.
    #[error("{object}: did not apply {want} within {waited_s}s; last seen revision `{last_revision}`, Ready={ready}: {message}")]
    Timeout {
        /// `Kustomization ns/name` or `GitRepository ns/name`.
        object: String,
        /// The revision we waited for.
        want: String,
        /// Seconds waited.
        waited_s: u64,
        /// Last `lastAppliedRevision` / artifact revision seen.
        last_revision: String,
        /// Last Ready status.
        ready: String,
        /// Last Ready message.
        message: String,
    },
}

/// One edit of a YAML file in the repo.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Set the scalar at a path (see [`crate::scenarios::yaml_edit`] for the path syntax).
    Set {
        /// File relative to the repo root.
        file: PathBuf,
        /// Document.
        doc: DocSelector,
        /// Path.
        path: String,
        /// New value.
        value: ScalarValue,
    },
    /// Set a container's image tag.
    ImageTag {
        /// File.
        file: PathBuf,
        /// Document (the workload).
        doc: DocSelector,
        /// Container.
        container: ContainerSel,
        /// New tag.
        tag: String,
    },
    /// Set (or add) a container env var.
    Env {
        /// File.
        file: PathBuf,
        /// Document (the workload).
        doc: DocSelector,
        /// Container.
        container: ContainerSel,
        /// Variable name.
        name: String,
        /// Value.
        value: String,
    },
    /// Set a value under a HelmRelease's `spec.values`.
    HelmValue {
        /// File.
        file: PathBuf,
        /// Document (the HelmRelease).
        doc: DocSelector,
        /// Dotted path inside `spec.values`.
        path: String,
        /// Value.
        value: ScalarValue,
    },
}

impl Edit {
    /// Set (or add) env var `name` of `container` in Deployment `deployment` of `file`.
    pub fn deployment_env(file: impl Into<PathBuf>, deployment: &str, container: &str, name: &str, value: &str) -> Edit {
        Edit::Env {
            file: file.into(),
            doc: DocSelector::object("Deployment", deployment),
            container: ContainerSel::Name(container.to_string()),
            name: name.to_string(),
            value: value.to_string(),
        }
    }

    fn file(&self) -> &Path {
        match self {
            Edit::Set { file, .. } | Edit::ImageTag { file, .. } | Edit::Env { file, .. } | Edit::HelmValue { file, .. } => file,
        }
    }

    fn apply(&self, ed: &mut YamlEditor) -> Result<bool, EditError> {
        match self {
            Edit::Set { doc, path, value, .. } => ed.set(doc, path, value.clone()),
            Edit::ImageTag { doc, container, tag, .. } => ed.set_image_tag(doc, container, tag),
            Edit::Env { doc, container, name, value, .. } => ed.set_env(doc, container, name, value),
            Edit::HelmValue { doc, path, value, .. } => ed.set_helm_value(doc, path, value.clone()),
        }
    }
}

/// Edits plus the commit message.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The edits, applied in order.
    pub edits: Vec<Edit>,
    /// Commit message.
    pub message: String,
}

/// What was committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// New commit sha.
    pub sha: String,
    /// Branch.
    pub branch: String,
    /// Unified diff of the edits (what `git show` prints for the commit's files).
    pub diff: String,
}

/// Apply the edits (all or nothing: files are written only when every edit succeeded) and commit.
pub fn apply_and_commit(repo: &dyn WorkingCopy, change: &Change) -> Result<Committed, ChangeError> {
    // Parallel writers (scenarios in other processes) commit one at a time.
    let _lock = GitDir::commit_lock(repo.root())?;
    let mut editors: Vec<YamlEditor> = Vec::new();
    for edit in &change.edits {
        let idx = match editors.iter().position(|e| e.file() == edit.file()) {
            Some(i) => i,
            None => {
                editors.push(YamlEditor::open(repo.root(), edit.file())?);
                editors.len() - 1
            }
        };
        edit.apply(&mut editors[idx])?;
    }
    let changed: Vec<&YamlEditor> = editors.iter().filter(|e| e.changed()).collect();
    if changed.is_empty() {
        return Err(ChangeError::NoChange(change.message.clone()));
    }
    let mut diff = String::new();
    for ed in &changed {
        ed.save(repo.root())?;
        diff.push_str(&ed.diff());
    }
    let sha = repo.commit_all(&change.message)?;
    Ok(Committed { sha, branch: repo.branch(), diff })
}

/// The commit a wait is for: `sha` on `branch`, or, when the working copy is known, any later
/// commit that contains it. Another writer (a parallel scenario) may commit on top before Flux
/// fetches; Flux then applies both at once, and the later revision carries ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// Branch Flux follows.
    pub branch: String,
    /// Our commit.
    pub sha: String,
    /// The working copy holding the history (None: only `sha` itself counts).
    pub repo: Option<PathBuf>,
}

impl Want {
    /// Exactly `sha` on `branch`.
    pub fn exact(branch: &str, sha: &str) -> Want {
        Want { branch: branch.to_string(), sha: sha.to_string(), repo: None }
    }

    /// Whether Flux's `revision` is our commit or one that contains it.
    pub fn met_by(&self, revision: &str) -> bool {
        let revision = Revision::parse(revision);
        if revision.is_commit(&self.branch, &self.sha) {
            return true;
        }
        let (Some(repo), Some(rev_sha)) = (&self.repo, revision.commit_on(&self.branch)) else { return false };
        revisions::contains(repo, rev_sha, &self.sha)
    }

    /// `branch@sha1:sha` for messages.
    pub fn describe(&self) -> String {
        format!("{}@sha1:{}", self.branch, self.sha)
    }
}

/// Where a Kustomization stands relative to a commit.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyState {
    /// Applied the commit and Ready=True.
    Applied,
    /// Still working (or not yet told).
    Pending {
        /// Last applied revision.
        revision: String,
        /// Ready status.
        ready: String,
        /// Ready message.
        message: String,
    },
    /// Tried the commit and failed (Ready=False for that revision).
    Failed {
        /// Ready message.
        message: String,
    },
}

/// The Ready condition's status and message, as the timeout message reports them.
fn ready_cond(obj: &Value) -> (String, String) {
    match conditions::ready(obj) {
        Some(c) => (c.status.to_string(), c.message.to_string()),
        None => ("Unknown".to_string(), "no Ready condition yet".to_string()),
    }
}

/// Evaluate a Kustomization object against the commit we wait for.
pub fn kustomization_state(ks: &Value, branch: &str, sha: &str) -> ApplyState {
    kustomization_state_for(ks, &Want::exact(branch, sha))
}

/// [`kustomization_state`] for a [`Want`] (a later commit containing ours also counts).
pub fn kustomization_state_for(ks: &Value, want: &Want) -> ApplyState {
    let applied = ks.pointer("/status/lastAppliedRevision").and_then(Value::as_str).unwrap_or("");
    let attempted = ks.pointer("/status/lastAttemptedRevision").and_then(Value::as_str).unwrap_or("");
    let (ready, message) = ready_cond(ks);
    let current_gen = conditions::observed_current(ks);
    if want.met_by(applied) && ready == "True" && current_gen {
        return ApplyState::Applied;
    }
    if want.met_by(attempted) && ready == "False" {
        return ApplyState::Failed { message };
    }
    ApplyState::Pending { revision: applied.to_string(), ready, message }
}

fn kube_err(action: String) -> impl FnOnce(kube::Error) -> ChangeError {
    move |source| ChangeError::Kube { action, source }
}

/// Watch one object until `done` says so (Ok(true)) or fails, within `until`.
async fn watch_until(
    client: &Client,
    resource: &Resource,
    r: &ObjectRef,
    until: tokio::time::Instant,
    mut check: impl FnMut(&Value) -> Result<bool, ChangeError>,
) -> Result<Option<Value>, ChangeError> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), r.ns(), &resource.api_resource());
    let cfg = watcher::Config::default().fields(&format!("metadata.name={}", r.name));
    let mut stream = watcher(api, cfg).default_backoff().applied_objects().boxed();
    let mut last = None;
    loop {
        match tokio::time::timeout_at(until, stream.next()).await {
            Err(_) | Ok(None) => return Ok(last),
            Ok(Some(Err(e))) => tracing::debug!(object = %r.name, error = %e, "watch error (retrying)"),
            Ok(Some(Ok(obj))) => {
                let v = serde_json::to_value(&obj).unwrap_or(Value::Null);
                if check(&v)? {
                    return Ok(None);
                }
                last = Some(v);
            }
        }
    }
}

/// Ask for a reconciliation of Kustomization `ks` and its GitRepository source, as
/// `flux reconcile kustomization <ks> --with-source` does, without waiting.
pub async fn request_reconciliation(client: &Client, ks: &ObjectRef) -> Result<(), ChangeError> {
    if let Some(source) = git_source_of(client, ks).await? {
        reconcile::request(client, &api::GIT_REPOSITORY, &source)
            .await
            .map_err(kube_err(format!("requesting reconciliation of {source}")))?;
    }
    reconcile::request(client, &api::KUSTOMIZATION, ks).await.map_err(kube_err(format!("requesting reconciliation of {ks}")))
}

async fn git_source_of(client: &Client, ks: &ObjectRef) -> Result<Option<ObjectRef>, ChangeError> {
    reconcile::git_source_of(client, ks).await.map_err(kube_err(format!("reading {ks}")))
}

/// `flux reconcile kustomization <ks> --with-source`, then wait until it applied `sha`.
pub async fn reconcile_and_wait(client: &Client, ks: &ObjectRef, branch: &str, sha: &str, deadline: Duration) -> Result<(), ChangeError> {
    reconcile_and_wait_for(client, ks, &Want::exact(branch, sha), deadline).await
}

/// [`reconcile_and_wait`] for a [`Want`].
pub async fn reconcile_and_wait_for(client: &Client, ks: &ObjectRef, want: &Want, deadline: Duration) -> Result<(), ChangeError> {
    let until = tokio::time::Instant::now() + deadline;
    if let Some(source) = git_source_of(client, ks).await? {
        reconcile::request(client, &api::GIT_REPOSITORY, &source)
            .await
            .map_err(kube_err(format!("requesting reconciliation of {source}")))?;
        // Like the flux CLI: wait for the source to have fetched the commit before poking the
        // Kustomization, so it does not re-apply the old artifact.
        let mut last_rev = String::new();
        let left = watch_until(client, &api::GIT_REPOSITORY, &source, until, |v| {
            last_rev = v.pointer("/status/artifact/revision").and_then(Value::as_str).unwrap_or("").to_string();
            Ok(want.met_by(&last_rev))
        })
        .await?;
        if let Some(v) = left {
            let (ready, message) = ready_cond(&v);
            return Err(ChangeError::Timeout {
                object: source.to_string(),
                want: want.describe(),
                waited_s: deadline.as_secs(),
                last_revision: last_rev,
                ready,
                message,
            });
        }
    }
    reconcile::request(client, &api::KUSTOMIZATION, ks).await.map_err(kube_err(format!("requesting reconciliation of {ks}")))?;
    let left = watch_until(client, &api::KUSTOMIZATION, ks, until, |v| match kustomization_state_for(v, want) {
        ApplyState::Applied => Ok(true),
        // Keep waiting: Flux retries failed applies on retryInterval; the deadline decides.
        ApplyState::Failed { .. } | ApplyState::Pending { .. } => Ok(false),
    })
    .await?;
    match left {
        None => Ok(()),
        Some(v) => {
            let (ready, message) = ready_cond(&v);
            Err(ChangeError::Timeout {
                object: ks.to_string(),
                want: want.describe(),
                waited_s: deadline.as_secs(),
                last_revision: v.pointer("/status/lastAppliedRevision").and_then(Value::as_str).unwrap_or("(none)").to_string(),
                ready,
                message,
            })
        }
    }
}

/// The whole change: edit, commit, reconcile with source, wait until applied.
pub async fn drive(
    client: &Client,
    repo: &dyn WorkingCopy,
    change: &Change,
    ks: &ObjectRef,
    deadline: Duration,
) -> Result<Committed, ChangeError> {
    let committed = apply_and_commit(repo, change)?;
    let want = Want { branch: committed.branch.clone(), sha: committed.sha.clone(), repo: Some(repo.root().to_path_buf()) };
    reconcile_and_wait_for(client, ks, &want, deadline).await?;
    Ok(committed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn revisions() {
        let sha = "3f6c2a9d8e1b4c7a0f5e2d9c8b7a6f5e4d3c2b1a";
        let met = |rev: &str, sha: &str| Want::exact("main", sha).met_by(rev);
        assert!(met(&format!("main@sha1:{sha}"), sha));
        assert!(met(&format!("main/{sha}"), sha));
        assert!(met(&format!("refs/heads/main@sha1:{sha}"), sha));
        assert!(met(sha, &sha[..12]));
        assert!(!met(&format!("dev@sha1:{sha}"), sha));
        assert!(!met("main@sha1:9a8b7c", sha));
        assert!(!met("", sha));
        assert!(!met(sha, ""));
    }

    fn temp_repo() -> (tempfile::TempDir, GitDir) {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("a.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: \"1\"\n  y: \"1\"\n")
            .unwrap();
        let d = tempfile::tempdir().unwrap();
        crate::git::ServedRepo::prepare(src.path(), d.path()).unwrap();
        let g = GitDir::open(d.path()).unwrap();
        (d, g)
    }

    #[test]
    fn a_later_commit_containing_ours_meets_the_want() {
        let (d, g) = temp_repo();
        let ours = g.head().unwrap();
        std::fs::write(d.path().join("b.yaml"), "b: 1\n").unwrap();
        let later = g.commit_all("someone else, on top").unwrap();
        let want = Want { branch: "main".into(), sha: ours.clone(), repo: Some(d.path().to_path_buf()) };
        assert!(want.met_by(&format!("main@sha1:{ours}")));
        assert!(want.met_by(&format!("main@sha1:{later}")), "a descendant carries our commit");
        // The commit before ours does not, nor does another branch.
        crate::git::run(d.path(), &["checkout", "-q", "-b", "side", &ours]).unwrap();
        std::fs::write(d.path().join("c.yaml"), "c: 1\n").unwrap();
        let side = g.commit_all("side").unwrap();
        let on_top = Want { sha: later.clone(), ..want.clone() };
        assert!(!on_top.met_by(&format!("main@sha1:{ours}")));
        assert!(!on_top.met_by(&format!("main@sha1:{side}")));
        assert!(!Want::exact("main", &ours).met_by(&format!("main@sha1:{later}")), "without the history only the sha itself counts");
    }

    #[test]
    fn parallel_writers_lose_no_edit() {
        let (d, g) = temp_repo();
        let root = d.path().to_path_buf();
        let threads: Vec<_> = ["x", "y"]
            .into_iter()
            .map(|key| {
                let (root, g) = (root.clone(), g.clone());
                std::thread::spawn(move || {
                    let change = Change {
                        edits: vec![Edit::Set {
                            file: "a.yaml".into(),
                            doc: DocSelector::object("ConfigMap", "a"),
                            path: format!("data.{key}"),
                            value: ScalarValue::Str("2".into()),
                        }],
                        message: format!("set {key}"),
                    };
                    let _ = &root;
                    apply_and_commit(&g, &change).unwrap()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(root.join("a.yaml")).unwrap();
        assert!(text.contains("x: \"2\"") && text.contains("y: \"2\""), "{text}");
        let log = crate::git::run_text(&root, &["log", "--format=%s"]).unwrap();
        assert_eq!(log.lines().count(), 3, "{log}");
    }

    #[test]
    fn kustomization_states() {
        let sha = "abc123";
        let ks = |applied: &str, attempted: &str, ready: &str, msg: &str| {
            json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "lastAppliedRevision": applied, "lastAttemptedRevision": attempted,
                "conditions": [{"type": "Ready", "status": ready, "message": msg}]}})
        };
        assert_eq!(kustomization_state(&ks("main@sha1:abc123", "main@sha1:abc123", "True", "Applied"), "main", sha), ApplyState::Applied);
        assert_eq!(
            kustomization_state(&ks("main@sha1:old", "main@sha1:abc123", "False", "dry-run failed"), "main", sha),
            ApplyState::Failed { message: "dry-run failed".into() }
        );
        assert_eq!(
            kustomization_state(&ks("main@sha1:old", "main@sha1:old", "Unknown", "Reconciliation in progress"), "main", sha),
            ApplyState::Pending { revision: "main@sha1:old".into(), ready: "Unknown".into(), message: "Reconciliation in progress".into() }
        );
        let mut stale = ks("main@sha1:abc123", "main@sha1:abc123", "True", "Applied");
        stale["status"]["observedGeneration"] = 1.into();
        assert!(matches!(kustomization_state(&stale, "main", sha), ApplyState::Pending { .. }));
    }
}
