//! The cassette as a chart source for `check` and `render`: a chart recorded for the sim (a Helm
//! repository's archive, an OCI chart of a HelmRepository of type `oci`, or an OCIRepository
//! holding a chart) is unpacked once into a directory this source owns and read as data, like a
//! chart in git.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use super::cassette::{Cassette, LockedSource, SourceKind};
use crate::repo::{ChartRef, ChartSource};

/// The media type of a Helm chart's layer in an OCI manifest.
const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// Charts of a cassette, unpacked on first use into a temporary directory removed on drop.
#[derive(Debug)]
pub struct CassetteCharts {
    cassette: Cassette,
    unpacked: tempfile::TempDir,
    /// Digest → unpacked chart directory (`None`: not a readable chart).
    done: Mutex<BTreeMap<String, Option<PathBuf>>>,
}

impl CassetteCharts {
    /// Charts of the cassette at `dir`.
    pub fn open(dir: &Path) -> Result<CassetteCharts, super::SourcesError> {
        let cassette = Cassette::open(dir)?;
        let unpacked = tempfile::Builder::new()
            .prefix("gitops-harness-charts-")
            .tempdir()
            .map_err(|source| super::SourcesError::Io { path: std::env::temp_dir(), source })?;
        Ok(CassetteCharts { cassette, unpacked, done: Mutex::new(BTreeMap::new()) })
    }

    /// The recorded source that answers `chart`: a chart of that name from that repository
    /// asked with that version (or resolved to it), or an OCIRepository artifact at that URL.
    fn locked(&self, chart: &ChartRef<'_>) -> Option<&LockedSource> {
        let same_url = |s: &LockedSource| chart.repository.is_none_or(|r| r.trim_end_matches('/') == s.url.trim_end_matches('/'));
        let version_ok = |s: &LockedSource| {
            chart.version.is_none_or(|v| {
                let v = v.trim_start_matches('v');
                s.asked.trim_start_matches('v') == v
                    || s.version.trim_start_matches('v') == v
                    || s.asked.strip_prefix("tag:").or(s.asked.strip_prefix("semver:")).is_some_and(|a| a.trim_start_matches('v') == v)
            })
        };
        let sources = &self.cassette.lock().sources;
        let charts = sources.iter().filter(|s| matches!(s.kind, SourceKind::Helm | SourceKind::HelmOci) && s.name == chart.name);
        let artifacts = sources.iter().filter(|s| s.kind == SourceKind::Oci && chart.repository.is_some());
        charts.chain(artifacts).find(|s| same_url(s) && version_ok(s))
    }

    /// The chart archive (`.tgz`) of a recorded source.
    fn archive(&self, s: &LockedSource) -> Option<Vec<u8>> {
        match s.kind {
            SourceKind::Helm => self.cassette.read_blob(&s.digest).ok(),
            SourceKind::HelmOci | SourceKind::Oci => {
                let manifest: Value = serde_json::from_slice(&self.cassette.read_blob(&s.digest).ok()?).ok()?;
                let layer = manifest
                    .get("layers")?
                    .as_array()?
                    .iter()
                    .find(|l| l.get("mediaType").and_then(Value::as_str) == Some(HELM_CHART_LAYER))?;
                self.cassette.read_blob(layer.get("digest")?.as_str()?).ok()
            }
            SourceKind::HelmIndex | SourceKind::Git => None,
        }
    }

    /// Unpack a chart archive under its digest; the directory holding `Chart.yaml`.
    fn unpack(&self, digest: &str, archive: &[u8]) -> Option<PathBuf> {
        let dest = self.unpacked.path().join(digest.trim_start_matches("sha256:"));
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
        // `unpack` refuses entries that climb out of `dest` (`..`, absolute paths).
        tar.unpack(&dest).ok()?;
        // Helm packages a chart as `<name>/…`.
        std::fs::read_dir(&dest).ok()?.flatten().map(|e| e.path()).find(|p| p.join("Chart.yaml").is_file())
    }
}

impl ChartSource for CassetteCharts {
    fn find(&self, chart: &ChartRef<'_>) -> Option<PathBuf> {
        let s = self.locked(chart)?;
        let mut done = self.done.lock().ok()?;
        if let Some(hit) = done.get(&s.digest) {
            return hit.clone();
        }
        let dir = self.archive(s).and_then(|bytes| self.unpack(&s.digest, &bytes));
        done.insert(s.digest.clone(), dir.clone());
        dir
    }

    fn describe(&self) -> String {
        format!("the source cassette {}", self.cassette.dir().display())
    }
}
