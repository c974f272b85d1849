//! Cache keys, pins and locating entries.
use super::*;

fn mark_complete(dir: &Path, key_text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(".complete"), "").unwrap();
    std::fs::write(dir.join("key.txt"), key_text).unwrap();
}

#[test]
fn versions_are_pinned() {
    for c in Component::ALL {
        assert!(c.version().starts_with('v'), "{} has version {}", c.name(), c.version());
    }
    assert!(kubernetes_version().starts_with("v1."));
}

#[test]
fn an_empty_cache_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let err = Toolset::locate_with(dir.path(), Some("go1.26.0")).unwrap_err().to_string();
    assert!(err.contains("etcd, kubernetes, kwok"), "{err}");
    assert!(err.contains("scripts/sim-tools.sh"), "{err}");
    let err = Toolset::locate_with(dir.path(), None).unwrap_err().to_string();
    assert!(err.contains("Go is not installed"), "{err}");
}

#[test]
fn substitutions_are_read_from_the_pins() {
    let s = Component::SourceController.substitutions();
    assert_eq!(
        s,
        vec![Substitution {
            module: "github.com/fluxcd/pkg/artifact".into(),
            version: "v0.18.2".into(),
            with: SubstituteWith::Version("v0.18.0".into())
        }]
    );
    assert_eq!(s[0].to_string(), "github.com/fluxcd/pkg/artifact v0.18.0 instead of v0.18.2 (not served)");
    let h = Component::HelmController.substitutions();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].with, SubstituteWith::DropReplace);
    assert!(Component::Kubernetes.substitutions().is_empty());
    assert_eq!(Substitution::parse("a@v1=>nonsense"), None);
}

#[test]
fn the_helm_fork_note_names_fork_and_upstream_helm() {
    let note = helm_fork_note().expect("helm-controller is built without the fork");
    assert!(note.contains("github.com/fluxcd/helm/v4@v4.2.4-flux.1"), "{note}");
    assert!(note.contains("helm.sh/helm/v4 v4."), "the Helm version from the committed go.mod: {note}");
    assert!(note.contains("not the released helm-controller"), "{note}");
    let all = release_differences();
    assert!(all.contains(&note), "{all:?}");
    assert!(all.iter().any(|l| l.starts_with("source-controller") && l.contains("v0.18.0")), "{all:?}");
}

#[test]
fn keys_cover_the_component_pins_and_go() {
    let e = Component::Etcd.entry_for("go1.26.0");
    let (prefix, key) = e.rsplit_once('-').unwrap();
    assert_eq!(prefix, format!("etcd-{}", Component::Etcd.version()));
    assert_eq!(key.len(), 12);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(Component::Etcd.key("go1.26.0"), Component::Etcd.key("go1.26.1"), "the Go version is in the key");
    let text = Component::SourceController.key_text("go1.26.0");
    assert!(text.contains("SOURCE_CONTROLLER_SUBSTITUTIONS="), "{text}");
    assert!(text.contains("sim-go/source-controller/go.sum "), "{text}");
    assert!(!text.contains("KUSTOMIZE_CONTROLLER"), "only its own lines: {text}");
    let k8s = Component::Kubernetes.key_text("go1.26.0");
    assert!(k8s.contains("KUBERNETES_BUILD_DATE="), "{k8s}");
    assert!(!Component::Kwok.key_text("go1.26.0").contains("sim-go/"), "kwok has no wrapper module");
}

#[test]
fn entries_are_found_by_key_and_others_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for c in Component::ALL {
        mark_complete(&dir.path().join(c.entry_for("go1.26.0")), &c.key_text("go1.26.0"));
    }
    let t = Toolset::locate_with(dir.path(), Some("go1.26.0")).unwrap();
    assert_eq!(t.dir(Component::HelmController), dir.path().join(Component::HelmController.entry_for("go1.26.0")));
    // Another Go: nothing fits, and the entries built with the first are named.
    let err = Toolset::locate_with(dir.path(), Some("go1.26.1")).unwrap_err().to_string();
    assert!(err.contains(&Component::Etcd.entry_for("go1.26.0")) && err.contains("built from other inputs"), "{err}");
    // No Go at all: an entry whose recorded inputs match (whatever Go built it) is used.
    let t = Toolset::locate_with(dir.path(), None).unwrap();
    assert_eq!(t.dir(Component::Etcd), dir.path().join(Component::Etcd.entry_for("go1.26.0")));
    // ... but not one built from other pins.
    std::fs::write(dir.path().join(Component::Etcd.entry_for("go1.26.0")).join("key.txt"), "something else\ngo go1.26.0\n").unwrap();
    let err = Toolset::locate_with(dir.path(), None).unwrap_err().to_string();
    assert!(err.contains("(etcd)"), "{err}");
}

#[test]
fn an_old_layout_entry_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    for c in Component::ALL {
        mark_complete(&dir.path().join(format!("{}-{}", c.name(), c.version())), "");
    }
    let err = Toolset::locate_with(dir.path(), Some("go1.26.0")).unwrap_err().to_string();
    assert!(err.contains("etcd, kubernetes") && err.contains("built from other inputs"), "{err}");
}

#[test]
fn entry_records_are_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("build-seconds"), "42\n").unwrap();
    std::fs::write(dir.path().join("substitutions.txt"), "a v1 instead of v2 (not served)\n").unwrap();
    std::fs::write(dir.path().join("key.txt"), "x\ngo go1.26.3\n").unwrap();
    let r = EntryRecord::read(dir.path());
    assert_eq!(r.build_seconds, Some(42));
    assert_eq!(r.substitutions, vec!["a v1 instead of v2 (not served)".to_string()]);
    assert_eq!(r.go.as_deref(), Some("go1.26.3"));
}

/// Every file of every wrapper module directory is part of its component's key, in the order
/// the script lists them (a new launcher source file must be added to `WRAPPERS`), with the
/// contents on disk.
#[test]
fn keys_cover_every_file_of_each_wrapper_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-go");
    for (name, files) in WRAPPERS {
        let mut on_disk: Vec<String> = std::fs::read_dir(root.join(name))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let compiled: Vec<&str> = files.iter().map(|(f, _)| *f).collect();
        assert_eq!(on_disk, compiled, "WRAPPERS must list harness/sim-go/{name}/'s files, sorted");
        for (f, contents) in files.iter() {
            assert_eq!(std::fs::read_to_string(root.join(name).join(f)).unwrap(), *contents, "{name}/{f}");
        }
    }
    let cm = Component::CertManager.key_text("go1.26.0");
    assert!(cm.contains("sim-go/cert-manager/run.go "), "the launcher's source is in its key: {cm}");
}
