//! Helpers shared by gitops-harness's integration tests: the workspace's paths, the CLI binary,
//! sim sandboxes ([`sim`]), Docker Engine helpers ([`docker`]), availability trials ([`trials`]),
//! and loopback stand-ins for upstream chart and artifact hosts ([`upstream`], [`gw`]).

pub mod docker;
pub mod gw;
pub mod sim;
pub mod trials;
pub mod upstream;

use std::path::PathBuf;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `shared/reference`: `$GITOPS_HARNESS_SHARED`, else beside the workspace (as CI lays it out),
/// else `/work/shared/reference`. Panics with what to do when it is nowhere: these tests prove
/// the harness against the real upstream repositories and CRDs, so they must not pass without them.
pub fn shared_reference() -> PathBuf {
    let candidates = [
        std::env::var_os("GITOPS_HARNESS_SHARED").map(PathBuf::from),
        Some(workspace().join("../shared/reference")),
        Some(PathBuf::from("/work/shared/reference")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("crds").is_dir())
        .unwrap_or_else(|| panic!("shared/reference not found beside the workspace; set GITOPS_HARNESS_SHARED to its path"))
}

/// The real CRDs.
pub fn crds_dir() -> PathBuf {
    shared_reference().join("crds")
}

/// The fixtures directory.
pub fn fixtures() -> PathBuf {
    workspace().join("fixtures")
}

/// The CLI binary built for these tests: cargo builds it beside the test binaries
/// (`target/<profile>/`, the tests in `target/<profile>/deps/`); `$NEXTEST_BIN_EXE_gitops-harness`
/// (nextest) or `$GITOPS_HARNESS_BIN` name it when set.
pub fn bin() -> PathBuf {
    for var in ["NEXTEST_BIN_EXE_gitops-harness", "NEXTEST_BIN_EXE_gitops_harness", "GITOPS_HARNESS_BIN"] {
        if let Some(p) = std::env::var_os(var) {
            return PathBuf::from(p);
        }
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // A testkit program sits beside it; a test binary one level down.
    let beside = exe.with_file_name("gitops-harness");
    if beside.is_file() {
        return beside;
    }
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("a test binary in target/<profile>/deps");
    profile_dir.join("gitops-harness")
}

/// A chart directory packed as Helm packages it (`<name>/…`, gzip'd tar).
pub fn helm_package(chart_dir: &std::path::Path, name: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all(name, chart_dir).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// A source cassette at `dir` holding two upstream charts of `shared/reference/charts` as
/// `sources record` stores them: cert-manager from `https://charts.jetstack.io` (asked `1.x`) as
/// a Helm archive, and flagger `1.44.0` from `oci://ghcr.io/fluxcd/charts` as an OCI manifest
/// whose layer is the chart (also recorded as the OCIRepository `oci://ghcr.io/fluxcd/charts/flagger`,
/// tag `1.44.0`).
pub fn chart_cassette(dir: &std::path::Path) {
    use gitops_harness::sources::{Cassette, LockedSource, SourceKind};
    let charts = shared_reference().join("charts");
    let mut cassette = Cassette::open_or_create(dir).unwrap();
    let archive = "https://charts.jetstack.io/charts/cert-manager-v1.21.0.tgz";
    let digest =
        cassette.put_file(archive, &helm_package(&charts.join("cert-manager"), "cert-manager"), "application/gzip", archive).unwrap();
    let locked = |kind, url: &str, name: &str, asked: &str, version: &str, digest: String| LockedSource {
        kind,
        url: url.into(),
        name: name.into(),
        asked: asked.into(),
        version: version.into(),
        digest,
        file: String::new(),
        objects: vec![],
    };
    cassette.put_source(locked(SourceKind::Helm, "https://charts.jetstack.io", "cert-manager", "1.x", "1.21.0", digest));
    let layer = cassette.put_blob(&helm_package(&charts.join("flagger"), "flagger")).unwrap();
    let manifest = serde_json::json!({"schemaVersion": 2,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": layer, "size": 0},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": layer, "size": 0}]});
    let mdigest = cassette.put_blob(manifest.to_string().as_bytes()).unwrap();
    cassette.put_source(locked(SourceKind::HelmOci, "oci://ghcr.io/fluxcd/charts", "flagger", "1.44.0", "1.44.0", mdigest.clone()));
    // The same chart as an OCIRepository artifact (a HelmRelease's `chartRef`).
    cassette.put_source(locked(SourceKind::Oci, "oci://ghcr.io/fluxcd/charts/flagger", "", "tag:1.44.0", "1.44.0", mdigest));
    cassette.save().unwrap();
}

/// Run `git` in `dir` with a fixed identity; its stderr in the error.
pub fn git(dir: &std::path::Path, args: &[&str]) -> Result<(), libtest_mimic::Failed> {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=fixture", "-c", "user.email=fixture@localhost"])
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| sim::fail(format!("git: {e}")))?;
    if !out.status.success() {
        return Err(sim::fail(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr))));
    }
    Ok(())
}

/// Write `files` (`(relative path, contents)`) under `root`, creating directories.
pub fn write_files(root: &std::path::Path, files: &[(&str, &str)]) -> Result<(), libtest_mimic::Failed> {
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap_or(root)).map_err(|e| sim::fail(format!("{}: {e}", p.display())))?;
        std::fs::write(&p, text).map_err(|e| sim::fail(format!("{}: {e}", p.display())))?;
    }
    Ok(())
}
