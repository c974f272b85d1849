//! Benchmark: `check` and `render` on a generated monorepo of 5,000 manifests: 100 Flux
//! Kustomizations, each an overlay over a base of 50 manifests, with a chain of 8 nested kustomize
//! Components (a deep component tree) and, for half of them, postBuild variables. Prints time and
//! peak memory (max RSS of the process tree, from `/usr/bin/time`) of the CLI for each, and
//! `render` against its baseline: `kubectl kustomize` run directly on the same 100 paths one after
//! another (target: render within 1.2x of it); run with `make bench` (`cargo bench -p
//! gitops-harness --bench check_throughput`). `render` needs kubectl (`make tools`); without it
//! that part says so and is skipped.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gitops_harness::check::{self, CheckOptions};
use gitops_harness::repo::Repo;

const KUSTOMIZATIONS: usize = 100;
const MANIFESTS_PER_KS: usize = 50;
const COMPONENT_DEPTH: usize = 8;

fn write(root: &Path, rel: &str, text: &str) -> std::io::Result<()> {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(p, text)
}

fn manifest(name: &str, m: usize) -> String {
    if m.is_multiple_of(2) {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n        - name: main\n          image: ghcr.io/example/{name}:1.0.{m}\n          env:\n            - name: REGION\n              value: ${{region:=eu}}\n          ports:\n            - name: http\n              containerPort: 8080\n"
        )
    } else {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n  ports:\n    - port: 80\n      targetPort: http\n"
        )
    }
}

/// The generated repo; returns the number of manifests written.
fn generate(root: &Path) -> std::io::Result<usize> {
    // A chain of components: c0 uses c1 … c7, each adding a ConfigMap and a label.
    for d in 0..COMPONENT_DEPTH {
        let next = if d + 1 < COMPONENT_DEPTH { format!("components:\n  - ../c{}\n", d + 1) } else { String::new() };
        write(
            root,
            &format!("components/c{d}/kustomization.yaml"),
            &format!(
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - cm.yaml\n{next}labels:\n  - pairs:\n      layer-{d}: \"true\"\n"
            ),
        )?;
        write(
            root,
            &format!("components/c{d}/cm.yaml"),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: layer-{d}\ndata:\n  depth: \"{d}\"\n"),
        )?;
    }
    let mut cluster = String::new();
    let mut manifests = 0;
    for i in 0..KUSTOMIZATIONS {
        let dep = if i.is_multiple_of(10) { String::new() } else { format!("  dependsOn:\n    - name: app-{}\n", i - 1) };
        let post = if i.is_multiple_of(2) { "  postBuild:\n    substitute:\n      region: us\n" } else { "" };
        cluster.push_str(&format!(
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app-{i}\n  namespace: flux-system\nspec:\n{dep}{post}  interval: 10m\n  prune: true\n  wait: true\n  targetNamespace: app-{i}\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: ./apps/app-{i}/overlay\n  components:\n    - ../../../components/c0\n"
        ));
        let mut resources = String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
        for m in 0..MANIFESTS_PER_KS {
            let name = format!("svc-{i}-{m}");
            write(root, &format!("apps/app-{i}/base/{name}.yaml"), &manifest(&name, m))?;
            resources.push_str(&format!("  - {name}.yaml\n"));
            manifests += 1;
        }
        write(root, &format!("apps/app-{i}/base/kustomization.yaml"), &resources)?;
        write(root, &format!("apps/app-{i}/overlay/kustomization.yaml"), "resources:\n  - ../base\nnamePrefix: prod-\n")?;
    }
    write(root, "clusters/bench/apps.yaml", &cluster)?;
    Ok(manifests)
}

/// Run the CLI under `/usr/bin/time`: (exit code, wall seconds, peak RSS in MiB of the tree).
fn measured(args: &[&str]) -> std::io::Result<Option<(Option<i32>, f64, f64)>> {
    if !Path::new("/usr/bin/time").exists() {
        return Ok(None);
    }
    let out = Command::new("/usr/bin/time").args(["-f", "@@ %e %M"]).arg(env!("CARGO_BIN_EXE_gitops-harness")).args(args).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let Some(line) = stderr.lines().rev().find(|l| l.starts_with("@@ ")) else { return Ok(None) };
    let mut it = line[3..].split_whitespace();
    let secs: f64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let kib: f64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    Ok(Some((out.status.code(), secs, kib / 1024.0)))
}

fn main() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let manifests = generate(dir.path())?;
    let root = dir.path().to_str().unwrap_or_default().to_string();
    let runs = 5;
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let (mut findings, mut waves, mut objects) = (0, 0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        let repo = Repo::load(dir.path(), Some(Path::new("clusters/bench"))).map_err(std::io::Error::other)?;
        let report = check::run(&repo, &CheckOptions::default());
        times.push(start.elapsed());
        findings = report.findings.len();
        waves = report.plan.waves.len();
        objects = repo.objects().len();
        assert_eq!(repo.flux_kustomizations().len(), KUSTOMIZATIONS, "generator and loader disagree");
        assert!(report.errors() == 0, "the synthetic repo is clean: {:#?}", report.findings);
    }
    times.sort();
    let median = times[runs / 2];
    println!(
        "check_throughput: {manifests} manifests in {KUSTOMIZATIONS} Kustomizations, components {COMPONENT_DEPTH} deep ({objects} objects loaded, {waves} plan waves, {findings} findings)"
    );
    println!(
        "  load+check in-process median {:.1} ms (min {:.1} ms, max {:.1} ms, {runs} runs) = {:.0} manifests/s; target < 1000 ms: {}",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[runs - 1].as_secs_f64() * 1e3,
        manifests as f64 / median.as_secs_f64(),
        if median < Duration::from_secs(1) { "met" } else { "MISSED" }
    );
    match measured(&["check", &root, "--format", "json"])? {
        Some((code, secs, mib)) => println!("  CLI check: {secs:.2} s wall, peak {mib:.1} MiB (exit {code:?})"),
        None => println!("  CLI check: /usr/bin/time not available; time and peak memory not measured"),
    }
    if let Err(e) = gitops_harness::tools::find(gitops_harness::tools::Tool::Kubectl) {
        println!("  CLI render: skipped ({e})");
        return Ok(());
    }
    // The baseline: `kubectl kustomize` run directly on the same paths, one after another. The
    // machine is shared: rounds alternate baseline and render, and the median ratio is reported.
    let kubectl = gitops_harness::tools::find(gitops_harness::tools::Tool::Kubectl).map_err(std::io::Error::other)?;
    let direct = || -> std::io::Result<f64> {
        let start = Instant::now();
        for i in 0..KUSTOMIZATIONS {
            let out = Command::new(&kubectl)
                .args(["kustomize", "--load-restrictor", "LoadRestrictionsNone"])
                .arg(dir.path().join(format!("apps/app-{i}/overlay")))
                .output()?;
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(start.elapsed().as_secs_f64())
    };
    let rounds = 3;
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let base = direct()?;
        let Some((code, secs, mib)) = measured(&["render", &root])? else {
            println!("  CLI render: /usr/bin/time not available; time and peak memory not measured");
            break;
        };
        ratios.push(secs / base);
        println!(
            "  round {round}: direct kubectl kustomize on the same {KUSTOMIZATIONS} paths, one after another {base:.2} s; CLI render {secs:.2} s ({:.0} ms per build) = {:.2}x, peak {mib:.1} MiB over the process tree (exit {code:?})",
            secs * 1e3 / KUSTOMIZATIONS as f64,
            secs / base
        );
    }
    if !ratios.is_empty() {
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        println!(
            "  render vs direct kustomize: median {median:.2}x over {} rounds; target <= 1.2x: {}",
            ratios.len(),
            if median <= 1.2 { "met" } else { "MISSED" }
        );
    }
    let base = direct()?;
    if let Some((code, secs, _)) = measured(&["render", &root, "--jobs", "1"])? {
        println!("  CLI render --jobs 1 (one build at a time): {secs:.2} s = {:.2}x direct {base:.2} s (exit {code:?})", secs / base);
    }
    Ok(())
}
