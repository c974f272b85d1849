//! Benchmark: `Repo::load` + `check::run` on a generated repo of 5,000 manifests in 500 Flux
//! Kustomizations (target: under 1 s). Prints figures; run with
//! `cargo bench -p gitops-harness --bench check_throughput`.

use std::path::Path;
use std::time::{Duration, Instant};

use gitops_harness::check::{self, CheckOptions};
use gitops_harness::repo::Repo;

const KUSTOMIZATIONS: usize = 500;
const MANIFESTS_PER_KS: usize = 10;

fn write(root: &Path, rel: &str, text: &str) -> std::io::Result<()> {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(p, text)
}

/// 500 Kustomizations in chains of 10 (each depends on the previous one of its chain), each
/// applying a directory of 10 manifests (Deployments and Services) through a kustomization.yaml.
fn generate(root: &Path) -> std::io::Result<usize> {
    let mut cluster = String::new();
    let mut manifests = 0;
    for i in 0..KUSTOMIZATIONS {
        let dep = if i % 10 == 0 { String::new() } else { format!("  dependsOn:\n    - name: app-{}\n", i - 1) };
        cluster.push_str(&format!(
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app-{i}\n  namespace: flux-system\nspec:\n{dep}  interval: 10m\n  prune: true\n  wait: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: ./apps/app-{i}\n"
        ));
        let mut resources =
            String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: app-ns\nresources:\n");
        for m in 0..MANIFESTS_PER_KS {
            let name = format!("svc-{i}-{m}");
            let text = if m % 2 == 0 {
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n        - name: main\n          image: ghcr.io/example/{name}:1.0.{m}\n          ports:\n            - name: http\n              containerPort: 8080\n"
                )
            } else {
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n  ports:\n    - port: 80\n      targetPort: http\n"
                )
            };
            write(root, &format!("apps/app-{i}/{name}.yaml"), &text)?;
            resources.push_str(&format!("  - {name}.yaml\n"));
            manifests += 1;
        }
        write(root, &format!("apps/app-{i}/kustomization.yaml"), &resources)?;
    }
    write(root, "clusters/bench/apps.yaml", &cluster)?;
    Ok(manifests)
}

fn main() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let manifests = generate(dir.path())?;
    let runs = 7;
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut findings = 0;
    let mut waves = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let repo = Repo::load(dir.path(), Some(Path::new("clusters/bench"))).map_err(std::io::Error::other)?;
        let report = check::run(&repo, &CheckOptions::default());
        times.push(start.elapsed());
        findings = report.findings.len();
        waves = report.plan.waves.len();
        assert_eq!(repo.flux_kustomizations().len(), KUSTOMIZATIONS, "generator and loader disagree");
    }
    times.sort();
    let median = times[runs / 2];
    println!("check_throughput: {manifests} manifests in {KUSTOMIZATIONS} Kustomizations ({waves} plan waves, {findings} findings)");
    println!(
        "  load+check median {:.1} ms (min {:.1} ms, max {:.1} ms, {runs} runs) = {:.0} manifests/s; target < 1000 ms: {}",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[runs - 1].as_secs_f64() * 1e3,
        manifests as f64 / median.as_secs_f64(),
        if median < Duration::from_secs(1) { "met" } else { "MISSED" }
    );
    Ok(())
}
