//! Git-driven changes against a real git working copy: the commit's diff is exactly the minimal
//! change, and a fresh clone sees it.

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_harness::git::{GitDir, WorkingCopy};
use gitops_harness::scenarios::gitops_change::{Change, ChangeError, Edit, apply_and_commit};
use gitops_harness::scenarios::yaml_edit::{ContainerSel, DocSelector, ScalarValue, changed_lines};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").args(args).current_dir(dir).output().expect("git is installed");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A copy of the fixture repo as a git working copy on `main`.
fn served_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("served");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd");
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&src).unwrap();
        let dst = root.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(entry.path(), &dst).unwrap();
        }
    }
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "initial"]);
    (tmp, root)
}

fn face() -> (DocSelector, ContainerSel) {
    (DocSelector::object("Deployment", "face"), ContainerSel::Name("face".into()))
}

#[test]
fn env_change_commits_exactly_one_line() {
    let (_tmp, root) = served_copy();
    let repo = GitDir::open(&root).unwrap();
    assert_eq!(repo.branch(), "main");
    let before = repo.head().unwrap();
    let (doc, container) = face();
    let change = Change {
        edits: vec![Edit::Env { file: "apps/faces/faces.yaml".into(), doc, container, name: "ERROR_FRACTION".into(), value: "75".into() }],
        message: "Force ERROR_FRACTION for face to 75%".into(),
    };
    let c = apply_and_commit(&repo, &change).unwrap();
    assert_eq!(c.branch, "main");
    assert_eq!(git(&root, &["rev-parse", "HEAD"]).trim(), c.sha);
    assert_eq!(git(&root, &["rev-parse", "HEAD~1"]).trim(), before);
    assert_eq!(git(&root, &["log", "-1", "--format=%s"]).trim(), "Force ERROR_FRACTION for face to 75%");
    // The commit touches one file, one line.
    assert_eq!(git(&root, &["show", "--name-only", "--format=", "HEAD"]).trim(), "apps/faces/faces.yaml");
    let show = repo.show(&c.sha).unwrap();
    let changed: Vec<&str> =
        show.lines().filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---")).collect();
    assert_eq!(changed, vec![r#"-          value: "0""#, r#"+          value: "75""#], "{show}");
    // Our own diff agrees with git's.
    assert!(c.diff.contains("-          value: \"0\"\n+          value: \"75\"\n"), "{}", c.diff);
    assert!(git(&root, &["status", "--porcelain"]).is_empty(), "working tree clean after the commit");

    // A fresh clone (what Flux's source-controller does) sees the change.
    let clone = root.parent().unwrap().join("clone");
    git(root.parent().unwrap(), &["clone", "-q", root.to_str().unwrap(), clone.to_str().unwrap()]);
    let text = std::fs::read_to_string(clone.join("apps/faces/faces.yaml")).unwrap();
    let orig =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd/apps/faces/faces.yaml")).unwrap();
    assert_eq!(changed_lines(&orig, &text), vec![r#"-          value: "0""#, r#"+          value: "75""#]);
}

#[test]
fn several_edits_one_commit_and_image_bump() {
    let (_tmp, root) = served_copy();
    let repo = GitDir::open(&root).unwrap();
    let (doc, container) = face();
    let change = Change {
        edits: vec![
            Edit::ImageTag { file: "apps/faces/faces.yaml".into(), doc: doc.clone(), container: container.clone(), tag: "0.8.1".into() },
            Edit::Set {
                file: "apps/faces/faces-canary.yaml".into(),
                doc: DocSelector::object("Canary", "face"),
                path: "spec.analysis.stepWeight".into(),
                value: ScalarValue::Int(10),
            },
        ],
        message: "face 0.8.1, faster canary".into(),
    };
    let c = apply_and_commit(&repo, &change).unwrap();
    let files = git(&root, &["show", "--name-only", "--format=", &c.sha]);
    assert_eq!(files.lines().collect::<Vec<_>>(), vec!["apps/faces/faces-canary.yaml", "apps/faces/faces.yaml"]);
    let numstat = git(&root, &["show", "--numstat", "--format=", &c.sha]);
    assert!(numstat.lines().all(|l| l.starts_with("1\t1\t")), "one line changed per file: {numstat}");
}

#[test]
fn no_op_and_failing_changes_commit_nothing() {
    let (_tmp, root) = served_copy();
    let repo = GitDir::open(&root).unwrap();
    let head = repo.head().unwrap();
    let (doc, container) = face();
    let same = Change {
        edits: vec![Edit::Env {
            file: "apps/faces/faces.yaml".into(),
            doc: doc.clone(),
            container: container.clone(),
            name: "ERROR_FRACTION".into(),
            value: "0".into(),
        }],
        message: "nothing".into(),
    };
    assert!(matches!(apply_and_commit(&repo, &same), Err(ChangeError::NoChange(_))));
    // The second edit fails: the first one must not be written either.
    let broken = Change {
        edits: vec![
            Edit::Env { file: "apps/faces/faces.yaml".into(), doc, container, name: "ERROR_FRACTION".into(), value: "75".into() },
            Edit::Set {
                file: "apps/faces/faces.yaml".into(),
                doc: DocSelector::object("Deployment", "nope"),
                path: "spec.replicas".into(),
                value: ScalarValue::Int(2),
            },
        ],
        message: "broken".into(),
    };
    let err = apply_and_commit(&repo, &broken).unwrap_err().to_string();
    assert!(err.contains("apps/faces/faces.yaml") && err.contains("Deployment nope"), "{err}");
    assert_eq!(repo.head().unwrap(), head);
    assert!(git(&root, &["status", "--porcelain"]).is_empty(), "nothing written");
}
