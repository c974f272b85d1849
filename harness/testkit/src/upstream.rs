//! The "internet" for recording tests: Helm repositories and an OCI registry built at run time
//! from the real upstream charts in `shared/reference/charts/` (packaged with the real `helm`),
//! served by a stand-in on loopback. The recorder reaches it through `--upstream FROM=TO`
//! overrides; the cassette keeps the real URLs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A file the stand-in serves.
#[derive(Clone, Debug)]
pub struct Served {
    /// Bytes.
    pub bytes: Vec<u8>,
    /// Content type.
    pub ctype: String,
}

/// What the stand-in serves, by path.
#[derive(Clone, Debug, Default)]
pub struct Site {
    /// Path → file.
    pub files: HashMap<String, Served>,
}

impl Site {
    fn put(&mut self, path: &str, bytes: Vec<u8>, ctype: &str) {
        self.files.insert(path.to_string(), Served { bytes, ctype: ctype.to_string() });
    }
}

/// sha256 digest string.
pub fn sha256(b: &[u8]) -> String {
    gitops_harness::sources::cassette::sha256(b)
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A helm command with its own homes under `home`.
pub fn helm_cmd(helm: &Path, home: &Path) -> Command {
    let mut c = Command::new(helm);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    c
}

fn copy_dir(src: &Path, dst: &Path) -> Result<(), String> {
    for e in walkdir::WalkDir::new(src) {
        let e = e.map_err(|e| e.to_string())?;
        let rel = e.path().strip_prefix(src).map_err(|e| e.to_string())?;
        let to = dst.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).map_err(|e| e.to_string())?;
        } else {
            std::fs::copy(e.path(), &to).map_err(|err| format!("{}: {err}", e.path().display()))?;
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Charts packaged from the reference sources, per repository directory.
#[derive(Debug)]
pub struct Packaged {
    /// Temporary root.
    pub root: tempfile::TempDir,
    /// repository name → directory of archives (+ index.yaml for HTTP ones).
    pub repos: HashMap<&'static str, PathBuf>,
    /// Flagger archives for the OCI registry: (version, tgz).
    pub flagger: Vec<(String, PathBuf)>,
}

/// Package the charts: cert-manager at v1.20.2, v1.21.0 and v1.22.0-alpha.1; the Linkerd edge
/// charts at 2024.11.8 (crds only) and 2026.8.3; linkerd-smi 1.0.4; ingress-nginx 4.15.0 and
/// 4.15.1 (archives on github.com, as upstream publishes them); flagger 1.43.0, 1.44.0 and
/// 1.45.0-rc.1 (OCI).
pub fn package(helm: &Path, charts: &Path) -> Result<Packaged, String> {
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let src = root.path().join("src");
    let home = root.path().join("home");
    for c in ["cert-manager", "linkerd-crds", "linkerd-control-plane", "linkerd-viz", "partials", "linkerd-smi", "ingress-nginx", "flagger"]
    {
        copy_dir(&charts.join(c), &src.join(c))?;
    }
    // linkerd-viz names partials by its place in the linkerd2 tree: vendor it (the README's recipe).
    copy_dir(&charts.join("partials"), &src.join("linkerd-viz/charts/partials"))?;
    for c in ["linkerd-crds", "linkerd-control-plane"] {
        run(helm_cmd(helm, &home).args(["dependency", "build"]).arg(src.join(c)))?;
    }
    let mut repos = HashMap::new();
    let mut pack = |repo: &'static str, chart: &str, version: &str, app: &str| -> Result<PathBuf, String> {
        let out = root.path().join("out").join(repo);
        std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        run(helm_cmd(helm, &home).arg("package").arg(src.join(chart)).args(["--version", version, "--app-version", app, "-d"]).arg(&out))?;
        repos.insert(repo, out.clone());
        Ok(out.join(format!("{chart}-{version}.tgz")))
    };
    for v in ["v1.20.2", "v1.21.0", "v1.22.0-alpha.1"] {
        pack("jetstack", "cert-manager", v, v)?;
    }
    pack("linkerd-edge", "linkerd-crds", "2024.11.8", "edge-24.11.8")?;
    for c in ["linkerd-crds", "linkerd-control-plane", "linkerd-viz"] {
        pack("linkerd-edge", c, "2026.8.3", "edge-26.8.3")?;
    }
    pack("linkerd-smi", "linkerd-smi", "1.0.4", "v0.2.4")?;
    for v in ["4.15.0", "4.15.1"] {
        pack("ingress-nginx", "ingress-nginx", v, "1.15.1")?;
    }
    let mut flagger = Vec::new();
    for v in ["1.43.0", "1.44.0", "1.45.0-rc.1"] {
        flagger.push((v.to_string(), pack("flagger", "flagger", v, v)?));
    }
    for (repo, url) in [
        ("jetstack", None),
        ("linkerd-edge", None),
        ("linkerd-smi", None),
        ("ingress-nginx", Some("https://github.com/kubernetes/ingress-nginx/releases/download/charts")),
    ] {
        let mut c = helm_cmd(helm, &home);
        c.args(["repo", "index"]).arg(&repos[repo]);
        if let Some(u) = url {
            c.args(["--url", u]);
        }
        run(&mut c)?;
    }
    Ok(Packaged { root, repos, flagger })
}

/// The site: HTTP repositories under /jetstack, /linkerd-edge, /linkerd-smi, /ingress-nginx
/// (archives under /github/kubernetes/ingress-nginx/releases/download/charts), and the OCI
/// registry under /ghcr (bearer token from /ghcr/token, as ghcr.io asks).
pub fn site(p: &Packaged) -> Result<Site, String> {
    let mut site = Site::default();
    for (repo, dir) in &p.repos {
        if *repo == "flagger" {
            continue;
        }
        for e in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
            let e = e.map_err(|e| e.to_string())?;
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).map_err(|e| e.to_string())?;
            let ctype = if name.ends_with(".yaml") { "text/yaml" } else { "application/gzip" };
            if *repo == "ingress-nginx" && name.ends_with(".tgz") {
                site.put(&format!("/github/kubernetes/ingress-nginx/releases/download/charts/{name}"), bytes, ctype);
            } else {
                site.put(&format!("/{repo}/{name}"), bytes, ctype);
            }
        }
    }
    let name = "fluxcd/charts/flagger";
    let mut tags = Vec::new();
    for (version, tgz) in &p.flagger {
        let layer = std::fs::read(tgz).map_err(|e| e.to_string())?;
        let config = json!({"name": "flagger", "version": version, "apiVersion": "v2", "appVersion": version}).to_string().into_bytes();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}],
            "annotations": {"org.opencontainers.image.title": "flagger", "org.opencontainers.image.version": version}
        })
        .to_string()
        .into_bytes();
        let md = sha256(&manifest);
        site.put(&format!("/ghcr/v2/{name}/blobs/{}", sha256(&config)), config, "application/octet-stream");
        site.put(&format!("/ghcr/v2/{name}/blobs/{}", sha256(&layer)), layer, "application/octet-stream");
        site.put(&format!("/ghcr/v2/{name}/manifests/{md}"), manifest.clone(), "application/vnd.oci.image.manifest.v1+json");
        site.put(&format!("/ghcr/v2/{name}/manifests/{version}"), manifest, "application/vnd.oci.image.manifest.v1+json");
        tags.push(version.clone());
    }
    tags.push("latest-is-not-a-version".into());
    site.put(&format!("/ghcr/v2/{name}/tags/list"), json!({"name": name, "tags": tags}).to_string().into_bytes(), "application/json");
    Ok(site)
}

/// A tar.gz holding one file (made with the system `tar`, as `flux push artifact` would pack).
pub fn targz(file: &str, content: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join(file), content).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new("tar").arg("-czf").arg("-").arg("-C").arg(dir.path()).arg(file).output().unwrap_or_else(|e| panic!("tar: {e}"));
    assert!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Add an OCI artifact (a Flux-style manifest with one tar.gz layer holding `podinfo.yaml` with
/// `content` and the tag) at `name:tag`.
pub fn add_artifact(site: &mut Site, name: &str, tags: &[&str], content: &[u8]) {
    let config = b"{}".to_vec();
    for t in tags {
        let layer = targz("podinfo.yaml", &[content, t.as_bytes()].concat());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.cncf.flux.config.v1+json",
            "config": {"mediaType": "application/vnd.cncf.flux.config.v1+json", "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}]
        })
        .to_string()
        .into_bytes();
        site.put(&format!("/ghcr/v2/{name}/blobs/{}", sha256(&config)), config.clone(), "application/octet-stream");
        site.put(&format!("/ghcr/v2/{name}/blobs/{}", sha256(&layer)), layer, "application/octet-stream");
        site.put(
            &format!("/ghcr/v2/{name}/manifests/{}", sha256(&manifest)),
            manifest.clone(),
            "application/vnd.oci.image.manifest.v1+json",
        );
        site.put(&format!("/ghcr/v2/{name}/manifests/{t}"), manifest, "application/vnd.oci.image.manifest.v1+json");
    }
    site.put(&format!("/ghcr/v2/{name}/tags/list"), json!({"name": name, "tags": tags}).to_string().into_bytes(), "application/json");
}

#[derive(Clone)]
struct Shared {
    site: Arc<Site>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn handle(State(s): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    s.requests.lock().unwrap_or_else(|e| e.into_inner()).push(path.clone());
    if path == "/ghcr/token" {
        return axum::Json(json!({"token": "anonymous-pull-token"})).into_response();
    }
    if let Some(rest) = path.strip_prefix("/ghcr/v2/") {
        let authed = req.headers().get("authorization").and_then(|h| h.to_str().ok()) == Some("Bearer anonymous-pull-token");
        if !authed {
            let name =
                rest.split("/manifests/").next().unwrap_or(rest).split("/blobs/").next().unwrap_or(rest).trim_end_matches("/tags/list");
            let challenge = format!(r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:{name}:pull""#);
            return (StatusCode::UNAUTHORIZED, [("www-authenticate", challenge)], "{}").into_response();
        }
    }
    match s.site.files.get(&path) {
        Some(f) => (StatusCode::OK, [("content-type", f.ctype.clone())], Body::from(f.bytes.clone())).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// A copy of the workshop repository with text replacements in one file.
pub fn variant(file: &str, from: &str, to: &str) -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    gitops_harness::git::working_copy::copy_tree(&crate::fixtures().join("gitops-linkerd"), dir.path()).map_err(|e| e.to_string())?;
    let path = dir.path().join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    if !text.contains(from) {
        return Err(format!("{file} has no `{from}`"));
    }
    std::fs::write(&path, text.replace(from, to)).map_err(|e| e.to_string())?;
    Ok(dir)
}

pub const EXTRA: &str = r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 10m
  url: oci://ghcr.io/stefanprodan/manifests/podinfo
  ref:
    semver: ">=6.0.0"
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: other
  namespace: flux-system
spec:
  interval: 10m
  url: https://github.com/org/other
  ref:
    branch: main
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: internal
  namespace: flux-system
spec:
  interval: 10m
  url: http://charts.internal.example/stable
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: smi
  namespace: flux-system
spec:
  interval: 10m
  chart:
    spec:
      chart: linkerd-smi
      version: "1.x"
      sourceRef:
        kind: HelmRepository
        name: internal
"#;

/// A running stand-in.
pub struct Upstream {
    /// Address.
    pub addr: SocketAddr,
    /// Paths asked for.
    pub requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Serve `site` on a free loopback port.
    pub async fn start(site: Site) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let shared = Shared { site: Arc::new(site), requests: Arc::default() };
        let requests = shared.requests.clone();
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { addr, requests, task }
    }

    /// The recorder's `--upstream` overrides for the real URLs.
    pub fn overrides(&self) -> Vec<String> {
        let a = self.addr;
        vec![
            format!("https://charts.jetstack.io=http://{a}/jetstack"),
            format!("https://helm.linkerd.io/edge=http://{a}/linkerd-edge"),
            format!("https://linkerd.github.io/linkerd-smi=http://{a}/linkerd-smi"),
            format!("https://kubernetes.github.io/ingress-nginx=http://{a}/ingress-nginx"),
            format!("https://github.com/kubernetes=http://{a}/github/kubernetes"),
            format!("https://ghcr.io=http://{a}/ghcr"),
        ]
    }

    /// Stop serving.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// `gitops-harness sources record` of a repository's cluster directory into `cassette`, from a
/// stand-in serving every chart version [`package`] makes (the URLs recorded are the real ones).
pub fn record_cassette(repo: &Path, cluster_dir: &str, cassette: &Path) -> Result<String, String> {
    record_cassettes(&[(repo, cluster_dir)], cassette)
}

/// [`record_cassette`] of several (repository, cluster directory) into one cassette, the charts
/// packaged once.
pub fn record_cassettes(repos: &[(&Path, &str)], cassette: &Path) -> Result<String, String> {
    let helm = gitops_harness::tools::find(gitops_harness::tools::Tool::Helm).map_err(|e| e.to_string())?;
    let packaged = package(&helm, &crate::shared_reference().join("charts"))?;
    let site = site(&packaged)?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let up = Upstream::start(site).await;
        let mut all = String::new();
        for (repo, cluster_dir) in repos {
            let mut cmd = tokio::process::Command::new(crate::bin());
            cmd.args(["sources", "record", "--repo"]).arg(repo).args(["--cluster-dir", cluster_dir, "--cassette"]).arg(cassette);
            for o in up.overrides() {
                cmd.arg("--upstream").arg(o);
            }
            let out = cmd.output().await.map_err(|e| format!("{}: {e}", crate::bin().display()))?;
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                up.stop();
                return Err(format!("recording {} ({cluster_dir}) failed:\n{text}", repo.display()));
            }
            all.push_str(&text);
        }
        up.stop();
        Ok(all)
    })
}
