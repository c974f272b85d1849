//! `scripts/sim-tools.sh` against a fake `go` (no network, seconds): what it builds with
//! (committed wrapper modules, `-mod=readonly`, an explicit GOSUMDB, fixed version metadata),
//! that its pinned substitutions are checked against the module proxy and a mismatch stops it
//! saying what to change, that the cache key covers the script, the pins, the module files and
//! the Go version, that the harness finds the same entries, and that a cache hit names the
//! substitutions too.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gitops_harness::cluster::sim::toolset::{Component, Toolset};

const GO: &str = "go1.26.0";

/// Stands in for `go`: logs each call with the Go environment the script set, and answers from
/// files the test writes (`served`: module@version the "proxy" hands out; `versions`: what
/// `go list -m -versions` lists).
const FAKE_GO: &str = r#"#!/usr/bin/env bash
set -u
d="$FAKE_GO_DIR"
echo "GOFLAGS=${GOFLAGS:-} GOSUMDB=${GOSUMDB:-} GOWORK=${GOWORK:-} GOTOOLCHAIN=${GOTOOLCHAIN:-} GONOSUMDB=${GONOSUMDB:-}|$*" >> "$d/calls.log"
case "$1" in
  env)
    case "$2" in GOVERSION) cat "$d/goversion" ;; GOPROXY) echo "https://proxy.golang.org,direct" ;; esac ;;
  list)
    if [ "$3" = -versions ]; then grep "^$4 " "$d/versions" || { echo "go: $4: 403 Forbidden" >&2; exit 1; }
    else echo "$d/module"; fi ;;
  mod)
    if [ "$2" = download ]; then
      mv="${@: -1}"
      if grep -qxF "$mv" "$d/served"; then printf '{"Path": "%s", "Dir": "%s"}\n' "${mv%@*}" "$d/module"
      else printf '{"Error": "%s: reading https://proxy.golang.org/x: 403 Forbidden"}\n' "$mv"; exit 1; fi
    else echo "fake go: unexpected: $*" >&2; exit 3; fi ;;
  build)
    if [ -s "$d/build-fails" ]; then cat "$d/build-fails" >&2; exit 1; fi
    out=""; prev=""
    for a in "$@"; do [ "$prev" = -o ] && out="$a"; prev="$a"; done
    printf 'fake program %s\n' "$*" > "$out" ;;
  install)
    pkg="${@: -1}"; pkg="${pkg%@*}"
    printf 'fake program %s\n' "$*" > "$GOBIN/${pkg##*/}" ;;
  *) echo "fake go: unexpected: $*" >&2; exit 3 ;;
esac
"#;

/// A copy of what the script reads (script, pins, wrapper modules), a fake `go`, an empty cache.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let ws = common::workspace();
        std::fs::create_dir_all(root.join("scripts")).unwrap();
        std::fs::copy(ws.join("scripts/sim-tools.sh"), root.join("scripts/sim-tools.sh")).unwrap();
        std::fs::create_dir_all(root.join("harness")).unwrap();
        std::fs::copy(ws.join("harness/sim-versions.env"), root.join("harness/sim-versions.env")).unwrap();
        for entry in std::fs::read_dir(ws.join("harness/sim-go")).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_dir() {
                let to = root.join("harness/sim-go").join(entry.file_name());
                std::fs::create_dir_all(&to).unwrap();
                // Every file: the cert-manager launcher's Go source is part of its key too.
                for f in std::fs::read_dir(entry.path()).unwrap() {
                    let f = f.unwrap();
                    std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
                }
            }
        }
        let fake = dir.path().join("fake");
        std::fs::create_dir_all(fake.join("bin")).unwrap();
        std::fs::write(fake.join("bin/go"), FAKE_GO).unwrap();
        make_executable(&fake.join("bin/go"));
        std::fs::write(fake.join("goversion"), format!("{GO}\n")).unwrap();
        // A module directory with every file the script copies out of one.
        let module = fake.join("module");
        for f in [
            "kustomize/stage/node/fast/node-initialize.yaml",
            "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
            "kustomize/stage/pod/fast/pod-ready.yaml",
            "kustomize/stage/pod/fast/pod-complete.yaml",
            "kustomize/stage/pod/fast/pod-delete.yaml",
            "config/crd/bases/example.yaml",
            "artifacts/flagger/crd.yaml",
            "deploy/crds/crd-certificates.yaml",
        ] {
            std::fs::create_dir_all(module.join(f).parent().unwrap()).unwrap();
            std::fs::write(module.join(f), "kind: Example\n").unwrap();
        }
        let s = Sandbox { dir };
        // What the module proxy does today (see harness/sim-versions.env).
        s.set_served(&["github.com/fluxcd/pkg/artifact@v0.18.0", "sigs.k8s.io/kwok@v0.8.0", "github.com/fluxcd/flagger@v1.44.0"]);
        s.set_versions("github.com/fluxcd/pkg/artifact v0.3.0 v0.5.0 v0.8.0 v0.18.0 v0.29.0");
        s
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
    fn fake(&self) -> PathBuf {
        self.dir.path().join("fake")
    }
    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }
    fn set_served(&self, served: &[&str]) {
        std::fs::write(self.fake().join("served"), served.join("\n") + "\n").unwrap();
    }
    fn set_versions(&self, lines: &str) {
        std::fs::write(self.fake().join("versions"), format!("{lines}\n")).unwrap();
    }
    fn calls(&self) -> String {
        std::fs::read_to_string(self.fake().join("calls.log")).unwrap_or_default()
    }
    fn edit(&self, rel: &str, f: impl FnOnce(String) -> String) {
        let p = self.root().join(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, f(text)).unwrap();
    }

    fn run(&self, args: &[&str], only: Option<&str>) -> Output {
        let mut c = Command::new("bash");
        c.arg(self.root().join("scripts/sim-tools.sh"))
            .args(args)
            .env("PATH", format!("{}:/usr/bin:/bin", self.fake().join("bin").display()))
            .env("FAKE_GO_DIR", self.fake())
            .env("GITOPS_HARNESS_SIM_CACHE", self.cache())
            .env("HOME", self.dir.path())
            // What a user's environment may hold must not reach the build.
            .env("GOFLAGS", "-mod=mod")
            .env("GONOSUMDB", "*")
            .env_remove("SIM_TOOLS_ONLY");
        if let Some(only) = only {
            c.env("SIM_TOOLS_ONLY", only);
        }
        c.output().unwrap()
    }

    /// `--keys`: component → entry name.
    fn keys(&self) -> Vec<(String, String)> {
        let out = self.run(&["--keys"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w[0].to_string(), w[2].to_string())
            })
            .collect()
    }
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Cache entries and staging directories present.
fn cache_names(cache: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(cache)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn builds_from_the_committed_modules_with_fixed_inputs_and_the_harness_finds_them() {
    let s = Sandbox::new();
    let out = s.run(&[], None);
    let all = text(&out);
    assert!(out.status.success(), "{all}");

    // The harness locates exactly these entries (same key computation).
    let tools = Toolset::locate_with(&s.cache(), Some(GO)).unwrap_or_else(|e| panic!("{e}\n{all}"));
    for c in Component::ALL {
        let dir = tools.dir(c);
        assert_eq!(dir, s.cache().join(c.entry_for(GO)), "{all}");
        let key_txt = std::fs::read_to_string(dir.join("key.txt")).unwrap();
        assert_eq!(key_txt, c.key_text(GO), "script and harness hash the same inputs for {}", c.name());
    }
    assert!(!cache_names(&s.cache()).iter().any(|n| n.starts_with(".staging")), "{:?}", cache_names(&s.cache()));

    let calls = s.calls();
    let builds: Vec<&str> = calls.lines().filter(|l| l.contains("|build ")).collect();
    assert_eq!(builds.len(), 1 + 3 + 3 + 1, "etcd, 3 Kubernetes programs, 3 Flux controllers, cert-manager's launcher:\n{calls}");
    for l in calls.lines().filter(|l| l.contains("|build ") || l.contains("|install ")) {
        assert!(l.contains("GOFLAGS=-buildvcs=false -mod=readonly "), "the user's GOFLAGS=-mod=mod is overridden: {l}");
        assert!(l.contains("GOSUMDB=sum.golang.org ") && l.contains("GONOSUMDB=|"), "explicit checksum database: {l}");
        assert!(l.contains("GOWORK=off") && l.contains("GOTOOLCHAIN=local"), "{l}");
    }
    for l in &builds {
        assert!(l.contains("|build -mod=readonly -trimpath"), "{l}");
    }
    assert!(
        !calls.contains("|mod tidy") && !calls.contains("|get ") && !calls.contains("|mod edit"),
        "nothing resolved at build time:\n{calls}"
    );
    let apiserver = builds.iter().find(|l| l.ends_with("k8s.io/kubernetes/cmd/kube-apiserver")).unwrap();
    assert!(
        apiserver.contains("buildDate=2026-04-15T18:01:22Z") && apiserver.contains("gitCommit=7b8c6cf0edd376b3d7c2f255142977c7f93db258"),
        "the release's metadata, not the build's: {apiserver}"
    );

    // The substitutions are said, and recorded in the entry.
    assert!(all.contains("github.com/fluxcd/pkg/artifact v0.18.0 instead of v0.18.2 (not served)"), "{all}");
    let recorded = std::fs::read_to_string(tools.dir(Component::HelmController).join("substitutions.txt")).unwrap();
    let want: Vec<String> = Component::HelmController.substitutions().iter().map(ToString::to_string).collect();
    assert_eq!(recorded.lines().collect::<Vec<_>>(), want, "the script and the harness word them alike");
    assert!(recorded.contains("github.com/fluxcd/helm/v4@v4.2.4-flux.1 is not served"), "{recorded}");
    assert_eq!(std::fs::read_to_string(tools.dir(Component::Etcd).join("substitutions.txt")).unwrap(), "");

    // `gitops-harness sim tools` finds the same entries and says what they were built with.
    let cli = Command::new(common::bin())
        .args(["sim", "tools"])
        .env("PATH", format!("{}:/usr/bin:/bin", s.fake().join("bin").display()))
        .env("FAKE_GO_DIR", s.fake())
        .env("GITOPS_HARNESS_SIM_CACHE", s.cache())
        .output()
        .unwrap();
    let shown = text(&cli);
    assert!(cli.status.success(), "{shown}");
    assert!(shown.contains(&Component::Kubernetes.entry_for(GO)) && shown.contains(GO), "{shown}");
    assert!(shown.contains("substitution: github.com/fluxcd/pkg/artifact v0.18.0 instead of v0.18.2 (not served)"), "{shown}");
    let note = format!("note: helm-controller {} is built without Flux's helm fork", Component::HelmController.version());
    assert!(shown.contains(&note), "{shown}");

    // A cache hit builds nothing and still names the substitutions.
    std::fs::remove_file(s.fake().join("calls.log")).unwrap();
    let again = s.run(&[], None);
    let all = text(&again);
    assert!(again.status.success(), "{all}");
    assert!(all.contains(&format!("source-controller {} cached", Component::SourceController.version())), "{all}");
    assert!(all.contains("github.com/fluxcd/pkg/artifact v0.18.0 instead of v0.18.2 (not served)"), "{all}");
    assert!(all.contains("github.com/fluxcd/helm/v4@v4.2.4-flux.1 is not served"), "{all}");
    let calls = s.calls();
    assert!(!calls.contains("|build") && !calls.contains("|install"), "{calls}");
}

#[test]
fn the_cache_key_covers_the_script_the_pins_the_modules_and_go() {
    let s = Sandbox::new();
    let base = s.keys();
    let harness: Vec<(String, String)> = Component::ALL.iter().map(|c| (c.name().to_string(), c.entry_for(GO))).collect();
    assert_eq!(base, harness, "the harness computes the script's keys");
    let changed = |after: &[(String, String)]| -> Vec<String> {
        base.iter().zip(after).filter(|(a, b)| a.1 != b.1).map(|(a, _)| a.0.clone()).collect()
    };

    s.edit("harness/sim-versions.env", |t| t.replace("=>v0.18.0\"", "=>v0.18.1\""));
    assert_eq!(changed(&s.keys()), ["source-controller"], "a substitution rebuilds that component only");
    s.edit("harness/sim-versions.env", |t| t.replace("=>v0.18.1\"", "=>v0.18.0\""));
    assert_eq!(s.keys(), base);

    s.edit("harness/sim-versions.env", |t| {
        t.replace("KUBERNETES_BUILD_DATE=2026-04-15T18:01:22Z", "KUBERNETES_BUILD_DATE=2026-04-16T00:00:00Z")
    });
    assert_eq!(changed(&s.keys()), ["kubernetes"]);
    s.edit("harness/sim-versions.env", |t| {
        t.replace("KUBERNETES_BUILD_DATE=2026-04-16T00:00:00Z", "KUBERNETES_BUILD_DATE=2026-04-15T18:01:22Z")
    });

    s.edit("harness/sim-go/kustomize-controller/go.sum", |t| t + "example.com/x v1.0.0/go.mod h1:x=\n");
    assert_eq!(changed(&s.keys()), ["kustomize-controller"], "the committed module files are in the key");
    s.edit("harness/sim-go/cert-manager/run.go", |t| t + "// an edit of the launcher\n");
    assert_eq!(changed(&s.keys()), ["kustomize-controller", "cert-manager"], "the launcher's source is in its key");

    s.edit("scripts/sim-tools.sh", |t| t + "# a change to the script\n");
    assert_eq!(changed(&s.keys()).len(), Component::ALL.len(), "the script is in every key");

    let s = Sandbox::new();
    std::fs::write(s.fake().join("goversion"), "go1.26.1\n").unwrap();
    assert_eq!(changed(&s.keys()).len(), Component::ALL.len(), "the Go version is in every key");
}

#[test]
fn a_nearer_served_version_than_the_pinned_substitute_stops_the_build() {
    let s = Sandbox::new();
    s.set_versions("github.com/fluxcd/pkg/artifact v0.3.0 v0.18.0 v0.18.1 v0.29.0");
    let out = s.run(&[], Some("source-controller"));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("github.com/fluxcd/pkg/artifact the module proxy serves for v0.18.2 is now v0.18.1 (pinned: v0.18.0"), "{all}");
    assert!(all.contains("\"github.com/fluxcd/pkg/artifact@v0.18.2=>v0.18.1\""), "says the line to pin: {all}");
    assert!(all.contains("SOURCE_CONTROLLER_SUBSTITUTIONS in harness/sim-versions.env"), "{all}");
    assert!(all.contains("--update-modules source-controller"), "{all}");
    assert!(!s.calls().contains("|build"), "nothing built");
    assert!(cache_names(&s.cache()).is_empty(), "{:?}", cache_names(&s.cache()));
}

#[test]
fn a_refused_version_the_proxy_now_serves_stops_the_build() {
    let s = Sandbox::new();
    s.set_served(&["github.com/fluxcd/pkg/artifact@v0.18.0", "github.com/fluxcd/helm/v4@v4.2.4-flux.1"]);
    let out = s.run(&[], Some("helm-controller"));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("the module proxy now serves github.com/fluxcd/helm/v4@v4.2.4-flux.1"), "{all}");
    assert!(all.contains("remove \"github.com/fluxcd/helm/v4@v4.2.4-flux.1=>drop-replace\" from HELM_CONTROLLER_SUBSTITUTIONS"), "{all}");
    assert!(!s.calls().contains("|build"));
}

#[test]
fn a_refused_substitute_stops_the_build() {
    let s = Sandbox::new();
    s.set_served(&[]);
    let out = s.run(&[], Some("source-controller"));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("the module proxy refuses the pinned substitute github.com/fluxcd/pkg/artifact@v0.18.0"), "{all}");
}

#[test]
fn a_dependency_the_proxy_starts_refusing_is_named_with_the_pin_to_add() {
    let s = Sandbox::new();
    std::fs::write(
        s.fake().join("build-fails"),
        "go: example.com/gone@v1.2.3: reading https://proxy.golang.org/example.com/gone/@v/v1.2.3.zip: 403 Forbidden\n",
    )
    .unwrap();
    s.set_versions("example.com/gone v1.2.0 v1.2.1");
    let out = s.run(&[], Some("etcd"));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("the module proxy refuses example.com/gone@v1.2.3"), "{all}");
    assert!(all.contains("add \"example.com/gone@v1.2.3=>v1.2.1\" to ETCD_SUBSTITUTIONS"), "{all}");
    let names = cache_names(&s.cache());
    assert!(names.iter().all(|n| n.ends_with(".failed.log")), "only the failure log is left: {names:?}");
}

#[test]
fn a_pin_the_committed_module_does_not_match_stops_the_build() {
    let s = Sandbox::new();
    let v = Component::Kubernetes.version();
    s.edit("harness/sim-versions.env", |t| t.replace(&format!("KUBERNETES_VERSION={v}"), "KUBERNETES_VERSION=v1.35.99"));
    let out = s.run(&[], Some("kubernetes"));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains(&format!("requires k8s.io/kubernetes {v}, the pin is v1.35.99")), "{all}");
    assert!(all.contains("--update-modules kubernetes"), "{all}");

    let s = Sandbox::new();
    s.edit("harness/sim-versions.env", |t| t.replace("=>v0.18.0\"", "=>v0.18.1\""));
    s.set_versions("github.com/fluxcd/pkg/artifact v0.18.1");
    let out = s.run(&[], Some("source-controller"));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("does not replace github.com/fluxcd/pkg/artifact with v0.18.1"), "{all}");
}

#[test]
fn a_proxy_that_cannot_be_asked_stops_the_build_saying_so() {
    let s = Sandbox::new();
    s.set_versions("example.com/other v1.0.0");
    let out = s.run(&[], Some("source-controller"));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("cannot ask the module proxy which versions of github.com/fluxcd/pkg/artifact it serves"), "{all}");
    assert!(!all.contains("is now none"), "not mistaken for an empty list: {all}");
    assert!(!s.calls().contains("|build"));
}
