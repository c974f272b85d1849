//! The source cassette and the sim's egress gateway, end to end with real clients:
//! - recording: `gitops-harness sources record` on the workshop repository
//!   (`fixtures/gitops-linkerd`, `clusters/my-cluster`) against a loopback stand-in for the
//!   internet that serves the real upstream charts from `shared/reference/charts/`, packaged at
//!   run time with the real `helm` (several versions, prereleases, an OCI registry that asks for
//!   a bearer token, archives on another host), then `sources verify`;
//! - replay through the gateway with the stand-in stopped: real `helm pull`/`helm template`
//!   (Go's net/http: HTTPS_PROXY, CONNECT, SSL_CERT_FILE) for `https://charts.jetstack.io`,
//!   `oci://ghcr.io/fluxcd/charts/flagger`, a plain-HTTP repository; `git clone` of a recorded
//!   GitRepository; an OCIRepository artifact;
//! - bad input: a host not in the cassette (refused, logged with process and URL), a source the
//!   cassette lacks (named with the record command), a corrupt archive (digest mismatch named).
//!
//! Needs `helm` (`make tools`); without it the trials are ignored and
//! `sources::helm_availability` says why.

use gitops_harness_testkit as common;
use gitops_harness_testkit::gw;
use gitops_harness_testkit::upstream;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use gitops_harness::cluster::sim::gateway::{self, GatewayCa};
use gitops_harness::sources::{Cassette, SourceKind};
use gw::{Gw, helm_via};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use upstream::{EXTRA, Packaged, Upstream, helm_cmd, sha256, variant};

type TestResult = Result<(), Failed>;
type NamedTrial = (&'static str, fn() -> TestResult);

fn fail(m: impl Into<String>) -> Failed {
    Failed::from(m.into())
}

fn helm() -> Result<PathBuf, String> {
    gitops_harness::tools::find(gitops_harness::tools::Tool::Helm).map_err(|e| e.to_string())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// Everything recorded once for all trials.
struct Prepared {
    packaged: Packaged,
    /// A cassette with the workshop repo's sources, ingress-nginx 4.15.0 too (the upgrade case),
    /// and the extra repo's OCIRepository, GitRepository and plain-HTTP Helm repository.
    cassette: tempfile::TempDir,
    /// The extra repo (for coverage checks).
    extra: tempfile::TempDir,
    /// Output of the workshop recording.
    record_output: String,
}

static PREPARED: OnceLock<Result<Prepared, String>> = OnceLock::new();

fn prepared() -> Result<&'static Prepared, Failed> {
    PREPARED.get_or_init(prepare).as_ref().map_err(|e| fail(e.clone()))
}

async fn record(repo: &Path, cluster_dir: &str, cassette: &Path, overrides: &[String]) -> Result<(bool, String), String> {
    let mut cmd = tokio::process::Command::new(common::bin());
    cmd.args(["sources", "record", "--repo"]).arg(repo).args(["--cluster-dir", cluster_dir, "--cassette"]).arg(cassette);
    for o in overrides {
        cmd.arg("--upstream").arg(o);
    }
    let out = cmd.output().await.map_err(|e| e.to_string())?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

fn prepare() -> Result<Prepared, String> {
    let helm = helm()?;
    let packaged = upstream::package(&helm, &common::shared_reference().join("charts"))?;
    let mut site = upstream::site(&packaged)?;
    upstream::add_artifact(&mut site, "stefanprodan/manifests/podinfo", &["5.9.0", "6.0.0", "6.5.1", "7.0.0-rc.1"], b"podinfo manifests ");
    let cassette = tempfile::tempdir().map_err(|e| e.to_string())?;
    let extra = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(extra.path().join("clusters/extra")).map_err(|e| e.to_string())?;
    std::fs::write(extra.path().join("clusters/extra/sources.yaml"), EXTRA).map_err(|e| e.to_string())?;
    // The other git repository: the harness git server serving a small repo.
    let other_src = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::write(other_src.path().join("README.md"), "other repository\n").map_err(|e| e.to_string())?;
    let served_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let served = gitops_harness::git::ServedRepo::prepare(other_src.path(), &served_dir.path().join("w")).map_err(|e| e.to_string())?;
    let record_output = rt().block_on(async {
        let up = Upstream::start(site).await;
        let git =
            gitops_harness::git::GitServer::start(&served, "127.0.0.1:0".parse().map_err(|_| "addr")?).await.map_err(|e| e.to_string())?;
        let mut overrides = up.overrides();
        // `ServedRepo::prepare` commits on `main`; the recorded URL is GitHub's.
        overrides.push(format!("https://github.com/org/other={}", git.url()));
        overrides.push(format!("http://charts.internal.example/stable=http://{}/linkerd-smi", up.addr));
        let workshop = common::fixtures().join("gitops-linkerd");
        let (ok, record_output) = record(&workshop, "clusters/my-cluster", cassette.path(), &overrides).await?;
        if !ok {
            return Err(format!("recording the workshop repo failed:\n{record_output}"));
        }
        let v = variant("infrastructure/ingress-nginx/release.yaml", "\"4.x\"", "\"4.15.0\"")?;
        let (ok, out) = record(v.path(), "clusters/my-cluster", cassette.path(), &overrides).await?;
        if !ok {
            return Err(format!("recording the ingress-nginx 4.15.0 variant failed:\n{out}"));
        }
        let (ok, out) = record(extra.path(), "clusters/extra", cassette.path(), &overrides).await?;
        if !ok {
            return Err(format!("recording the extra repo failed:\n{out}"));
        }
        git.shutdown().await;
        up.stop();
        Ok::<_, String>(record_output)
    })?;
    Ok(Prepared { packaged, cassette, extra, record_output })
}

fn locked<'a>(c: &'a Cassette, kind: SourceKind, name: &str, asked: &str) -> Option<&'a gitops_harness::sources::LockedSource> {
    c.lock().sources.iter().find(|s| s.kind == kind && s.name == name && s.asked == asked)
}

fn record_workshop_repo_then_verify() -> TestResult {
    let p = prepared()?;
    let c = Cassette::open(p.cassette.path()).map_err(|e| fail(e.to_string()))?;
    let want = [
        (SourceKind::Helm, "cert-manager", "1.x", "v1.21.0"),
        (SourceKind::Helm, "linkerd-crds", ">=2025.1.1", "2026.8.3"),
        (SourceKind::Helm, "linkerd-control-plane", ">=2025.1.1", "2026.8.3"),
        (SourceKind::Helm, "linkerd-viz", ">=2025.1.1", "2026.8.3"),
        (SourceKind::Helm, "linkerd-smi", "1.x", "1.0.4"),
        (SourceKind::Helm, "ingress-nginx", "4.x", "4.15.1"),
        (SourceKind::Helm, "ingress-nginx", "4.15.0", "4.15.0"),
        (SourceKind::HelmOci, "flagger", "1.x", "1.44.0"),
    ];
    for (kind, name, asked, version) in want {
        let s = locked(&c, kind, name, asked).ok_or_else(|| fail(format!("{name} `{asked}` not in the lock:\n{}", p.record_output)))?;
        if s.version != version {
            return Err(fail(format!(
                "{name} `{asked}` resolved to {}, want {version} (prereleases and older versions must lose)",
                s.version
            )));
        }
    }
    let cm = locked(&c, SourceKind::Helm, "cert-manager", "1.x").ok_or_else(|| fail("cert-manager"))?;
    if cm.file != "https://charts.jetstack.io/cert-manager-v1.21.0.tgz"
        || !cm.objects.iter().any(|o| o == "HelmRelease cert-manager/cert-manager")
    {
        return Err(fail(format!("cert-manager lock entry: {cm:?}")));
    }
    let upstream_archive = std::fs::read(p.packaged.repos["jetstack"].join("cert-manager-v1.21.0.tgz")).map_err(|e| fail(e.to_string()))?;
    if cm.digest != sha256(&upstream_archive) {
        return Err(fail("the recorded archive's digest is not the upstream archive's"));
    }
    let nginx = locked(&c, SourceKind::Helm, "ingress-nginx", "4.x").ok_or_else(|| fail("ingress-nginx"))?;
    if !nginx.file.starts_with("https://github.com/kubernetes/ingress-nginx/") {
        return Err(fail(format!("ingress-nginx archives live on github.com, as upstream's index says: {}", nginx.file)));
    }
    // The served index holds the recorded versions only.
    let index =
        c.read_file("https://charts.jetstack.io/index.yaml").map_err(|e| fail(e.to_string()))?.ok_or_else(|| fail("no jetstack index"))?;
    let index = String::from_utf8_lossy(&index);
    if !index.contains("v1.21.0") || index.contains("v1.20.2") || index.contains("alpha") {
        return Err(fail(format!("served index:\n{index}")));
    }
    for (repo, dir) in
        [(common::fixtures().join("gitops-linkerd"), "clusters/my-cluster"), (p.extra.path().to_path_buf(), "clusters/extra")]
    {
        let out = std::process::Command::new(common::bin())
            .args(["sources", "verify", "--cassette"])
            .arg(p.cassette.path())
            .arg("--repo")
            .arg(&repo)
            .args(["--cluster-dir", dir])
            .output()
            .map_err(|e| fail(e.to_string()))?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if !out.status.success() || !text.contains("ok: every file matches its digest") {
            return Err(fail(format!("verify {dir}: {text}")));
        }
    }
    println!("{}", p.record_output.lines().last().unwrap_or(""));
    Ok(())
}

fn helm_https_charts_through_gateway() -> TestResult {
    let p = prepared()?;
    rt().block_on(async {
        let gw = Gw::start(p.cassette.path()).await?;
        let home = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let out = home.path().join("out");
        let d = out.to_string_lossy().into_owned();
        let (ok, text) =
            helm_via(&gw, home.path(), &["pull", "cert-manager", "--repo", "https://charts.jetstack.io", "--version", "1.x", "-d", &d])
                .await?;
        if !ok {
            return Err(fail(format!("helm pull cert-manager 1.x through the gateway: {text}\n{:?}", gw.lines())));
        }
        let pulled = std::fs::read(out.join("cert-manager-v1.21.0.tgz")).map_err(|e| fail(format!("pulled archive: {e}")))?;
        let c = Cassette::open(p.cassette.path()).map_err(|e| fail(e.to_string()))?;
        let cm = locked(&c, SourceKind::Helm, "cert-manager", "1.x").ok_or_else(|| fail("lock"))?;
        if sha256(&pulled) != cm.digest {
            return Err(fail("helm pulled other bytes than the cassette's"));
        }
        let (ok, text) = helm_via(
            &gw,
            home.path(),
            &["template", "cm", "cert-manager", "--repo", "https://charts.jetstack.io", "--version", "1.x", "--set", "crds.enabled=true"],
        )
        .await?;
        if !ok || !text.contains("kind: CustomResourceDefinition") || !text.contains("\"certificates.cert-manager.io\"") {
            return Err(fail(format!("helm template cert-manager through the gateway: {}", &text[..text.len().min(2000)])));
        }
        // The upgrade case: both ingress-nginx versions, archives on github.com (another CONNECT).
        for (asked, file) in [("4.15.0", "ingress-nginx-4.15.0.tgz"), ("4.x", "ingress-nginx-4.15.1.tgz")] {
            let (ok, text) = helm_via(
                &gw,
                home.path(),
                &["pull", "ingress-nginx", "--repo", "https://kubernetes.github.io/ingress-nginx", "--version", asked, "-d", &d],
            )
            .await?;
            if !ok || !out.join(file).is_file() {
                return Err(fail(format!("helm pull ingress-nginx {asked}: {text}")));
            }
        }
        let served = |host: &str| {
            gw.has(|v| {
                v["gateway"] == "cassette"
                    && v["outcome"] == "served"
                    && v["process"] == "helm"
                    && v["url"].as_str().is_some_and(|u| u.starts_with(host))
            })
        };
        for host in [
            "https://charts.jetstack.io/index.yaml",
            "https://charts.jetstack.io/cert-manager-v1.21.0.tgz",
            "https://github.com/kubernetes/ingress-nginx/",
        ] {
            if !served(host) {
                return Err(fail(format!("no log line for helm's {host}: {:?}", gw.lines())));
            }
        }
        Ok(())
    })
}

fn helm_oci_chart_through_gateway() -> TestResult {
    let p = prepared()?;
    rt().block_on(async {
        let gw = Gw::start(p.cassette.path()).await?;
        let home = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let out = home.path().join("out");
        let d = out.to_string_lossy().into_owned();
        let upstream_tgz = std::fs::read(&p.packaged.flagger[1].1).map_err(|e| fail(e.to_string()))?;
        for version in ["1.44.0", "1.x"] {
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).map_err(|e| fail(e.to_string()))?;
            let (ok, text) =
                helm_via(&gw, home.path(), &["pull", "oci://ghcr.io/fluxcd/charts/flagger", "--version", version, "-d", &d]).await?;
            if !ok {
                return Err(fail(format!("helm pull oci flagger {version}: {text}\n{:?}", gw.lines())));
            }
            let pulled = std::fs::read(out.join("flagger-1.44.0.tgz")).map_err(|e| fail(format!("{version}: {e}: {text}")))?;
            if sha256(&pulled) != sha256(&upstream_tgz) {
                return Err(fail("the pulled chart is not the recorded one"));
            }
        }
        if !gw.has(|v| {
            v["outcome"] == "served"
                && v["process"] == "helm"
                && v["url"].as_str().is_some_and(|u| u.starts_with("https://ghcr.io/v2/fluxcd/charts/flagger/blobs/"))
        }) {
            return Err(fail(format!("no blob served from ghcr.io: {:?}", gw.lines())));
        }
        Ok(())
    })
}

fn gateway_refuses_and_names_misses() -> TestResult {
    let p = prepared()?;
    rt().block_on(async {
        let gw = Gw::start(p.cassette.path()).await?;
        let home = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        // An HTTPS host the cassette does not hold: the CONNECT is refused, never dialled.
        let (ok, text) = helm_via(&gw, home.path(), &["pull", "redis", "--repo", "https://charts.bitnami.com/bitnami"]).await?;
        if ok {
            return Err(fail(format!("helm reached bitnami: {text}")));
        }
        if !gw.has(|v| {
            v["gateway"] == "refused"
                && v["process"] == "helm"
                && v["host"] == "charts.bitnami.com"
                && v["url"] == "CONNECT charts.bitnami.com:443"
        }) {
            return Err(fail(format!("no refusal line naming helm and charts.bitnami.com: {:?}", gw.lines())));
        }
        // A plain HTTP host the cassette does not hold.
        gitops_harness::live::ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .proxy(reqwest::Proxy::all(gateway::proxy_url(gw.gw.addr(), "probe")).map_err(|e| fail(e.to_string()))?)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let r = client.get("http://example.org/x").send().await.map_err(|e| fail(e.to_string()))?;
        if r.status() != 502 || !gw.has(|v| v["gateway"] == "refused" && v["process"] == "probe" && v["url"] == "http://example.org/x") {
            return Err(fail(format!("plain HTTP refusal: {} {:?}", r.status(), gw.lines())));
        }
        // A URL of a recorded host that the cassette does not hold: 404 naming it and the record command.
        let r = client.get("http://charts.internal.example/stable/linkerd-smi-9.9.9.tgz").send().await.map_err(|e| fail(e.to_string()))?;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        let named =
            ["http://charts.internal.example/stable/linkerd-smi-9.9.9.tgz", "HelmRelease flux-system/smi", "gitops-harness sources record"];
        if status != 404 || !named.iter().all(|n| body.contains(n)) {
            return Err(fail(format!("miss: {status} {body}")));
        }
        // A chart version the cassette lacks: helm fails at once, and the miss is logged.
        let (ok, text) = helm_via(&gw, home.path(), &["pull", "oci://ghcr.io/fluxcd/charts/flagger", "--version", "1.99.0"]).await?;
        let miss_logged = gw.has(|v| {
            v["outcome"] == "miss"
                && v["url"] == "https://ghcr.io/v2/fluxcd/charts/flagger/manifests/1.99.0"
                && v["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("asked by HelmRelease flagger-system/flagger") && d.contains("sources record"))
        });
        if ok || !miss_logged {
            return Err(fail(format!("OCI miss: {text}\n{:?}", gw.lines())));
        }
        Ok(())
    })
}

fn copy_cassette(src: &Path) -> Result<tempfile::TempDir, Failed> {
    let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    gitops_harness::git::working_copy::copy_tree(src, dir.path()).map_err(|e| fail(e.to_string()))?;
    Ok(dir)
}

fn corrupt_archive_is_named() -> TestResult {
    let p = prepared()?;
    let copy = copy_cassette(p.cassette.path())?;
    let c = Cassette::open(copy.path()).map_err(|e| fail(e.to_string()))?;
    let cm = locked(&c, SourceKind::Helm, "cert-manager", "1.x").ok_or_else(|| fail("lock"))?;
    let blob = c.blob_path(&cm.digest);
    let mut bytes = std::fs::read(&blob).map_err(|e| fail(e.to_string()))?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&blob, &bytes).map_err(|e| fail(e.to_string()))?;
    let out = std::process::Command::new(common::bin())
        .args(["sources", "verify", "--cassette"])
        .arg(copy.path())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let named =
        [blob.display().to_string(), cm.file.clone(), "https://charts.jetstack.io".into(), "HelmRelease cert-manager/cert-manager".into()];
    if out.status.code() != Some(1) || !named.iter().all(|n| text.contains(n.as_str())) {
        return Err(fail(format!("verify of a corrupt archive (exit {:?}) must name {named:?}:\n{text}", out.status.code())));
    }
    rt().block_on(async {
        let gw = Gw::start(copy.path()).await?;
        let home = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let (ok, text) =
            helm_via(&gw, home.path(), &["pull", "cert-manager", "--repo", "https://charts.jetstack.io", "--version", "1.x"]).await?;
        let logged = gw.has(|v| {
            v["outcome"] == "corrupt"
                && v["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains(&blob.display().to_string()) && d.contains("HelmRelease cert-manager/cert-manager"))
        });
        if ok || !logged {
            return Err(fail(format!("replay of a corrupt archive: {text}\n{:?}", gw.lines())));
        }
        Ok(())
    })
}

fn missing_source_is_named_before_start() -> TestResult {
    let p = prepared()?;
    let v = variant("infrastructure/cert-manager/release.yaml", "\"1.x\"", "\"2.x\"").map_err(fail)?;
    let out = std::process::Command::new(common::bin())
        .args(["sources", "verify", "--cassette"])
        .arg(p.cassette.path())
        .arg("--repo")
        .arg(v.path())
        .args(["--cluster-dir", "clusters/my-cluster"])
        .output()
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.starts_with("MISSING")).unwrap_or("");
    let wants = [
        "HelmRelease cert-manager/cert-manager",
        "cert-manager `2.x`",
        "v1.21.0",
        "https://charts.jetstack.io",
        "gitops-harness sources record --repo",
    ];
    if out.status.code() != Some(1) || !wants.iter().all(|w| line.contains(w)) {
        return Err(fail(format!(
            "a source missing from the cassette must be named with {wants:?} (exit {:?}):\n{text}",
            out.status.code()
        )));
    }
    Ok(())
}

fn git_oci_artifact_and_plain_http() -> TestResult {
    let p = prepared()?;
    let c = Cassette::open(p.cassette.path()).map_err(|e| fail(e.to_string()))?;
    let podinfo = c.lock().sources.iter().find(|s| s.kind == SourceKind::Oci).ok_or_else(|| fail("no OCIRepository in the lock"))?;
    if podinfo.version != "6.5.1" {
        return Err(fail(format!("semver >=6.0.0 over 5.9.0, 6.0.0, 6.5.1, 7.0.0-rc.1 resolved to {}", podinfo.version)));
    }
    let git = c.lock().sources.iter().find(|s| s.kind == SourceKind::Git).ok_or_else(|| fail("no GitRepository in the lock"))?.clone();
    let podinfo = podinfo.clone();
    rt().block_on(async {
        let gw = Gw::start(p.cassette.path()).await?;
        // git (libcurl) through the gateway: CONNECT github.com, TLS from the gateway CA.
        let work = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let out = tokio::process::Command::new("git")
            .arg("-c")
            .arg(format!("http.sslCAInfo={}", gw.ca_file.display()))
            // libcurl sends proxy credentials only when challenged, unless told to use basic.
            .args(["-c", "http.proxyAuthMethod=basic"])
            .args(["clone", "--quiet", "--branch", "main", "https://github.com/org/other"])
            .arg(work.path().join("other"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", work.path())
            // libcurl asks for a password when the proxy URL has a user only.
            .env("https_proxy", format!("http://git:none@{}", gw.gw.addr()))
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let cloned = std::fs::read_to_string(work.path().join("other/README.md")).unwrap_or_default();
        if !out.status.success() || cloned != "other repository\n" {
            return Err(fail(format!("git clone through the gateway: {}\n{:?}", String::from_utf8_lossy(&out.stderr), gw.lines())));
        }
        let head = std::process::Command::new("git")
            .arg("-C")
            .arg(work.path().join("other"))
            .args(["rev-parse", "HEAD"])
            .output()
            .map_err(|e| fail(e.to_string()))?;
        if format!("sha1:{}", String::from_utf8_lossy(&head.stdout).trim()) != git.digest {
            return Err(fail("the clone is not at the recorded commit"));
        }
        // The OCIRepository artifact over HTTPS (CONNECT ghcr.io) with the gateway CA.
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&gw.ca_file).map_err(|e| fail(e.to_string()))?)
            .map_err(|e| fail(e.to_string()))?;
        gitops_harness::live::ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .proxy(reqwest::Proxy::all(gateway::proxy_url(gw.gw.addr(), "source-controller")).map_err(|e| fail(e.to_string()))?)
            .tls_certs_only([ca])
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let m = client
            .get("https://ghcr.io/v2/stefanprodan/manifests/podinfo/manifests/6.5.1")
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let digest_header = m.headers().get("docker-content-digest").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
        let body = m.bytes().await.map_err(|e| fail(e.to_string()))?;
        if digest_header != podinfo.digest || sha256(&body) != podinfo.digest {
            return Err(fail(format!("manifest over the gateway: digest header {digest_header}, lock {}", podinfo.digest)));
        }
        let manifest: Value = serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))?;
        let layer = manifest["layers"][0]["digest"].as_str().unwrap_or("");
        let blob = client
            .get(format!("https://ghcr.io/v2/stefanprodan/manifests/podinfo/blobs/{layer}"))
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let blob = blob.bytes().await.map_err(|e| fail(e.to_string()))?;
        if sha256(&blob) != layer || !blob.starts_with(&[0x1f, 0x8b]) {
            return Err(fail("the layer served is not the recorded one"));
        }
        // Plain HTTP Helm repository: Go sends the proxy user on proxied plain requests too.
        let home = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let d = home.path().join("out").to_string_lossy().into_owned();
        let (ok, text) = helm_via(
            &gw,
            home.path(),
            &["pull", "linkerd-smi", "--repo", "http://charts.internal.example/stable", "--version", "1.x", "-d", &d],
        )
        .await?;
        if !ok
            || !gw.has(|v| {
                v["process"] == "helm" && v["outcome"] == "served" && v["url"] == "http://charts.internal.example/stable/index.yaml"
            })
        {
            return Err(fail(format!("plain HTTP repository through the gateway: {text}\n{:?}", gw.lines())));
        }
        if !gw.has(|v| v["process"] == "git" && v["outcome"] == "served") {
            return Err(fail(format!("git's requests are not named: {:?}", gw.lines())));
        }
        Ok(())
    })
}

fn free_port() -> Result<u16, Failed> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| fail(e.to_string()))?;
    Ok(l.local_addr().map_err(|e| fail(e.to_string()))?.port())
}

fn cli_gateway_process() -> TestResult {
    let p = prepared()?;
    let ca = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(common::bin())
        .args(["sources", "gateway", "--addr", &addr, "--ca-dir"])
        .arg(ca.path())
        .arg("--cassette")
        .arg(p.cassette.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let result = (|| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            if std::time::Instant::now() > deadline {
                return Err(fail("the gateway process did not listen"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let home = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let d = home.path().join("out").to_string_lossy().into_owned();
        std::fs::create_dir_all(&d).map_err(|e| fail(e.to_string()))?;
        let helm = helm().map_err(fail)?;
        let env = gateway::process_env(addr.parse().map_err(|_| fail("addr"))?, "helm", &GatewayCa::cert_file(ca.path()));
        let out = helm_cmd(&helm, home.path())
            .args(["pull", "linkerd-crds", "--repo", "https://helm.linkerd.io/edge", "-d", &d])
            .envs(env)
            .output()
            .map_err(|e| fail(e.to_string()))?;
        if !out.status.success() || !home.path().join("out/linkerd-crds-2026.8.3.tgz").is_file() {
            return Err(fail(format!("helm through the gateway process: {}", String::from_utf8_lossy(&out.stderr))));
        }
        Ok(())
    })();
    // Stop the process we started (by its handle), then read its log.
    let _ = child.kill();
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    result?;
    let log = String::from_utf8_lossy(&out.stdout);
    let served = log.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|v| {
        v["gateway"] == "cassette"
            && v["process"] == "helm"
            && v["url"] == "https://helm.linkerd.io/edge/linkerd-crds-2026.8.3.tgz"
            && v["status"] == 200
    });
    if !served {
        return Err(fail(format!("the gateway's log has no line for the archive:\n{log}")));
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let missing = helm().err();
    let why = missing.clone();
    let mut trials = vec![Trial::test("sources::helm_availability", move || {
        match &why {
            None => println!("helm found: the cassette trials run"),
            Some(r) => {
                println!("cassette trials ignored: they need helm to package the reference charts and to pull through the gateway: {r}")
            }
        }
        Ok(())
    })];
    let needs_helm: Vec<NamedTrial> = vec![
        ("sources::record_workshop_repo_then_verify", record_workshop_repo_then_verify),
        ("sources::helm_https_charts_through_gateway", helm_https_charts_through_gateway),
        ("sources::helm_oci_chart_through_gateway", helm_oci_chart_through_gateway),
        ("sources::gateway_refuses_and_names_misses", gateway_refuses_and_names_misses),
        ("sources::corrupt_archive_is_named", corrupt_archive_is_named),
        ("sources::missing_source_is_named_before_start", missing_source_is_named_before_start),
        ("sources::git_oci_artifact_and_plain_http", git_oci_artifact_and_plain_http),
        ("sources::cli_gateway_process", cli_gateway_process),
    ];
    for (name, f) in needs_helm {
        let reason = missing.clone();
        trials.push(
            Trial::test(name, move || match reason {
                Some(r) => Err(fail(format!("needs helm: {r}"))),
                None => f(),
            })
            .with_ignored_flag(missing.is_some()),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}
