//! JUnit output of the scenario suites, written per process with `quick-junit`.
//!
//! nextest runs each test in its own process and writes its own JUnit (profile `ci`); this file
//! additionally carries the scenario's failure reason inside `<failure>`, which is what CI
//! dashboards show, and works the same under plain `cargo test`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

/// One scenario's result.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Passed.
    Passed,
    /// Failed with this message (expected vs seen, timeline).
    Failed(String),
    /// Not run, with the reason.
    Ignored(String),
}

/// Results gathered in this process.
#[derive(Debug, Default)]
pub struct Recorder {
    cases: Mutex<Vec<(String, Verdict, Duration)>>,
}

impl Recorder {
    /// Record one result.
    pub fn record(&self, name: &str, verdict: Verdict, time: Duration) {
        if let Ok(mut cases) = self.cases.lock() {
            cases.push((name.to_string(), verdict, time));
        }
    }

    /// Number of recorded results.
    pub fn len(&self) -> usize {
        self.cases.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Build the JUnit report.
    pub fn report(&self, suite: &str) -> Report {
        let mut ts = TestSuite::new(suite);
        if let Ok(cases) = self.cases.lock() {
            for (name, verdict, time) in cases.iter() {
                let status = match verdict {
                    Verdict::Passed => TestCaseStatus::success(),
                    Verdict::Failed(msg) => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        // First line as the attribute, everything (timeline included) as the body.
                        s.set_message(msg.lines().next().unwrap_or("scenario failed"));
                        s.set_description(msg.as_str());
                        s
                    }
                    Verdict::Ignored(reason) => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(reason.as_str());
                        s
                    }
                };
                let mut tc = TestCase::new(name.as_str(), status);
                tc.set_classname(format!("{suite}.{}", name.split("::").next().unwrap_or(suite)));
                tc.set_time(*time);
                ts.add_test_case(tc);
            }
        }
        let mut report = Report::new("gitops-harness-suites");
        report.add_test_suite(ts);
        report
    }

    /// Write the report to `dir/<suite>-<pid>.xml`; returns the path.
    pub fn write(&self, dir: &Path, suite: &str) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{suite}-{}.xml", std::process::id()));
        let xml = self.report(suite).to_string().map_err(std::io::Error::other)?;
        std::fs::write(&path, xml)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reason_is_inside_failure_element() {
        let r = Recorder::default();
        r.record(
            "canary::face_promotes",
            Verdict::Failed("expected weight 10, saw 5\ntimeline:\n t=0 Progressing".into()),
            Duration::from_secs(3),
        );
        r.record("drift::manual_edit", Verdict::Ignored("no live cluster: x".into()), Duration::ZERO);
        r.record("bootstrap::all_ready", Verdict::Passed, Duration::from_secs(1));
        let xml = r.report("scenarios").to_string().unwrap();
        let fail_at = xml.find("<failure").expect("failure element");
        let body = &xml[fail_at..];
        assert!(body.contains("expected weight 10, saw 5"), "{xml}");
        assert!(body.contains("t=0 Progressing"), "{xml}");
        assert!(xml.contains("<skipped message=\"no live cluster: x\""), "{xml}");
        assert!(xml.contains("tests=\"3\""), "{xml}");
    }

    #[test]
    fn writes_file_per_process() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recorder::default();
        r.record("a::b", Verdict::Passed, Duration::ZERO);
        let p = r.write(dir.path(), "scenarios").unwrap();
        assert!(p.file_name().unwrap().to_string_lossy().starts_with("scenarios-"));
        assert!(std::fs::read_to_string(p).unwrap().contains("a::b"));
    }
}
