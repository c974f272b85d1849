//! The upgrade report: Markdown for a PR comment, JSON for tools, JUnit XML (one case per
//! assertion) for CI dashboards, written together into one artifacts folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::UpgradeError;
use super::snapshot::Snapshot;
use super::verdict::{Assertion, CanaryOutcome, Status, WorkloadChanges};

/// Time to converge of one component, in the bootstrap at `--from` and in the upgrade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Convergence {
    /// `Kind ns/name`.
    pub component: String,
    /// Seconds from the start of the bootstrap's readiness watch to Ready (None: not measured,
    /// e.g. an environment that was reused).
    pub bootstrap_s: Option<f64>,
    /// Seconds from publishing the target to Ready at the target revision.
    pub upgrade_s: Option<f64>,
}

/// One row of the before/after table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRow {
    /// `chart`, `image` or `flux`.
    pub what: &'static str,
    /// Where (`ns/name` of the HelmRelease, `Kind ns/name` of the workload, the controller).
    pub subject: String,
    /// Before (`-` when absent).
    pub before: String,
    /// After.
    pub after: String,
}

/// Everything an upgrade run found.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeReport {
    /// Environment name.
    pub name: String,
    /// Backend.
    pub backend: String,
    /// `--from` as asked and resolved.
    pub from: String,
    /// `--to` as asked and resolved.
    pub to: String,
    /// The commits between them (oldest first).
    pub commits: Vec<String>,
    /// The served copy's commit that carried the target.
    pub published: String,
    /// Files the publishing commit changed (`git show --name-status`).
    pub files: Vec<String>,
    /// The assertions.
    pub assertions: Vec<Assertion>,
    /// Before/after versions (only what changed).
    pub versions: Vec<VersionRow>,
    /// Per-component time to converge.
    pub convergence: Vec<Convergence>,
    /// Canaries at the end.
    pub canaries: Vec<CanaryOutcome>,
    /// Workloads rolled, added, removed, and regressions.
    pub workloads: WorkloadChanges,
    /// Wall time of the upgrade (publish to verdict), seconds.
    pub took_s: f64,
}

impl UpgradeReport {
    /// True when no assertion failed.
    pub fn passed(&self) -> bool {
        !self.assertions.iter().any(|a| a.status == Status::Fail)
    }

    /// How `upgrade` ends: success, or failure on a regression.
    pub fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::ok_if(self.passed())
    }

    /// The failed assertions.
    pub fn failures(&self) -> Vec<&Assertion> {
        self.assertions.iter().filter(|a| a.status == Status::Fail).collect()
    }

    /// Markdown for a reviewer.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let verdict = if self.passed() { "✅ no regression" } else { "❌ regression" };
        md.push_str(&format!("## Upgrade rehearsal: {verdict}\n\n"));
        md.push_str(&format!(
            "`{}` → `{}` on the **{}** backend (environment `{}`), {:.0}s.\n\n",
            self.from, self.to, self.backend, self.name, self.took_s
        ));
        if !self.commits.is_empty() {
            md.push_str("Commits:\n");
            for c in &self.commits {
                md.push_str(&format!("- `{c}`\n"));
            }
            md.push('\n');
        }
        md.push_str("| Assertion | Result | Summary |\n|---|---|---|\n");
        for a in &self.assertions {
            md.push_str(&format!("| {} | {} | {} |\n", a.title, a.status.mark(), escape_cell(&a.summary)));
        }
        for a in self.assertions.iter().filter(|a| !a.evidence.is_empty()) {
            md.push_str(&format!(
                "\n<details{}><summary>{} — evidence</summary>\n\n",
                if a.status == Status::Fail { " open" } else { "" },
                a.id
            ));
            for e in &a.evidence {
                md.push_str(&format!("- {}\n", e.replace('\n', " ")));
            }
            md.push_str("\n</details>\n");
        }
        if !self.versions.is_empty() {
            md.push_str("\n### Versions\n\n| | Where | Before | After |\n|---|---|---|---|\n");
            for v in &self.versions {
                md.push_str(&format!("| {} | {} | `{}` | `{}` |\n", v.what, v.subject, v.before, v.after));
            }
        }
        if !self.convergence.is_empty() {
            md.push_str("\n### Time to converge\n\n| Component | Bootstrap at `--from` | Upgrade |\n|---|---|---|\n");
            let secs = |s: Option<f64>| s.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "–".into());
            for c in &self.convergence {
                md.push_str(&format!("| {} | {} | {} |\n", c.component, secs(c.bootstrap_s), secs(c.upgrade_s)));
            }
        }
        md
    }

    /// JUnit XML: one test case per assertion.
    pub fn junit(&self) -> Result<String, UpgradeError> {
        let mut suite = TestSuite::new(format!("upgrade {} {}..{}", self.name, self.from, self.to));
        for a in &self.assertions {
            let status = match a.status {
                Status::Pass | Status::Warn => TestCaseStatus::success(),
                Status::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(a.summary.clone());
                    s.set_description(a.evidence.join("\n"));
                    s
                }
                Status::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(a.summary.clone());
                    s
                }
            };
            let mut case = TestCase::new(a.id, status);
            case.set_classname("upgrade");
            if a.status != Status::Fail {
                case.set_system_out(format!("{}\n{}", a.summary, a.evidence.join("\n")));
            }
            suite.add_test_case(case);
        }
        suite.set_time(Duration::from_secs_f64(self.took_s.max(0.0)));
        let mut report = Report::new("gitops-harness upgrade");
        report.add_test_suite(suite);
        report.to_string().map_err(|e| UpgradeError::Report { path: PathBuf::from("junit.xml"), message: e.to_string() })
    }

    /// Write `report.md`, `report.json` and `junit.xml` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, UpgradeError> {
        std::fs::create_dir_all(dir).map_err(|source| UpgradeError::Io { path: dir.to_path_buf(), source })?;
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| UpgradeError::Report { path: dir.join("report.json"), message: e.to_string() })?;
        let files = [("report.md", self.markdown()), ("report.json", json), ("junit.xml", self.junit()?)];
        let mut out = Vec::new();
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| UpgradeError::Io { path: path.clone(), source })?;
            out.push(path);
        }
        Ok(out)
    }
}

fn escape_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The before/after table: chart versions, images and Flux controllers that differ, plus any
/// that appeared or went away.
pub fn version_rows(before: &Snapshot, after: &Snapshot) -> Vec<VersionRow> {
    fn rows(what: &'static str, b: &BTreeMap<String, String>, a: &BTreeMap<String, String>, out: &mut Vec<VersionRow>) {
        let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
        for k in keys {
            let (bv, av) = (b.get(k), a.get(k));
            if bv != av {
                let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "-".into());
                out.push(VersionRow { what, subject: k.clone(), before: show(bv), after: show(av) });
            }
        }
    }
    let images = |s: &Snapshot| -> BTreeMap<String, String> {
        s.workloads.iter().filter(|(_, w)| !w.images.is_empty()).map(|(k, w)| (k.clone(), w.images.join(", "))).collect()
    };
    let mut out = Vec::new();
    rows("flux", &before.flux, &after.flux, &mut out);
    rows("chart", &before.charts, &after.charts, &mut out);
    rows("image", &images(before), &images(after), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upgrade::snapshot::Workload;

    fn report(status: Status) -> UpgradeReport {
        UpgradeReport {
            name: "e".into(),
            backend: "sim".into(),
            from: "base (abc)".into(),
            to: "main (def)".into(),
            commits: vec!["def bump face".into()],
            published: "123".into(),
            files: vec![],
            assertions: vec![
                Assertion { id: "ready-at-target", title: "ready", status: Status::Pass, summary: "5 Ready".into(), evidence: vec![] },
                Assertion {
                    id: "canaries",
                    title: "canaries",
                    status,
                    summary: "faces/face ended Failed | x".into(),
                    evidence: vec!["faces/face: Failed".into()],
                },
                Assertion { id: "flux-version", title: "flux", status: Status::Skipped, summary: "one Flux".into(), evidence: vec![] },
            ],
            versions: vec![VersionRow {
                what: "image",
                subject: "Deployment faces/face".into(),
                before: "x:1".into(),
                after: "x:2".into(),
            }],
            convergence: vec![Convergence {
                component: "Kustomization flux-system/apps".into(),
                bootstrap_s: Some(20.0),
                upgrade_s: Some(4.5),
            }],
            canaries: vec![],
            workloads: WorkloadChanges::default(),
            took_s: 140.0,
        }
    }

    #[test]
    fn markdown_json_and_junit_carry_each_assertion() {
        let r = report(Status::Fail);
        assert_eq!(r.exit(), crate::exit::Exit::Failure);
        let md = r.markdown();
        assert!(
            md.contains("❌ regression")
                && md.contains("faces/face ended Failed \\| x")
                && md.contains("| image | Deployment faces/face | `x:1` | `x:2` |"),
            "{md}"
        );
        assert!(md.contains("| Kustomization flux-system/apps | 20.0s | 4.5s |"), "{md}");
        let junit = r.junit().unwrap();
        assert_eq!(junit.matches("<testcase ").count(), 3, "{junit}");
        assert!(junit.contains("<failure") && junit.contains("<skipped"), "{junit}");
        let dir = tempfile::tempdir().unwrap();
        let files = r.write(dir.path()).unwrap();
        assert_eq!(files.len(), 3);
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
        assert_eq!(json["assertions"][1]["status"], "fail");
        assert_eq!(report(Status::Pass).exit(), crate::exit::Exit::Success);
    }

    #[test]
    fn version_rows_show_only_changes() {
        let w = |img: &str| Workload { template: img.into(), replicas: 1, images: vec![img.into()], pods: Default::default() };
        let mut before = Snapshot::default();
        before.workloads.insert("Deployment a/face".into(), w("face:1"));
        before.workloads.insert("Deployment a/same".into(), w("same:1"));
        before.charts.insert("ingress-nginx/ingress-nginx".into(), "ingress-nginx@1.0.0".into());
        let mut after = before.clone();
        after.workloads.insert("Deployment a/face".into(), w("face:2"));
        after.charts.insert("ingress-nginx/ingress-nginx".into(), "ingress-nginx@1.1.0".into());
        let rows = version_rows(&before, &after);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].what, "chart");
        assert_eq!(rows[1].after, "face:2");
    }
}
