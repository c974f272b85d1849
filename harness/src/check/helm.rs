//! HelmRelease charts as data: values against the chart's `values.schema.json`, and one note (in
//! the report's summary, not a finding per release) for the charts that cannot be read offline.
//!
//! Helm validates the release's values coalesced over the chart's defaults (`values.yaml`, or
//! `spec.chart.spec.valuesFiles`) before it renders anything; helm-controller's install fails
//! with "values don't meet the specifications of the schema(s)". Each violation is reported at
//! the line that sets the offending value: `spec.values`, or the `valuesFrom` ConfigMap/Secret
//! (or the file its kustomize generator reads).

use serde_json::Value;

use super::{Finding, Severity, codes};
use crate::repo::helm_values::{self, ReleaseValues};
use crate::repo::{HelmRelease, Origin, Repo, charts};

/// Violations reported per HelmRelease at most.
const MAX_PER_RELEASE: usize = 5;

/// The chart's defaults: `valuesFiles` coalesced in order when given, else `values.yaml`.
fn chart_defaults(h: &HelmRelease, dir: &std::path::Path) -> Value {
    let files: Vec<String> = h
        .doc
        .value
        .pointer("/spec/chart/spec/valuesFiles")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if files.is_empty() {
        return charts::default_values(dir);
    }
    let mut out = Value::Null;
    for f in files {
        let Ok(text) = std::fs::read_to_string(dir.join(&f)) else { continue };
        if let Ok(v) = serde_norway::from_str::<serde_norway::Value>(&text) {
            out = charts::coalesce(&out, &crate::yaml_docs::to_json(v));
        }
    }
    out
}

/// Remove `null` entries (Helm drops them before validating).
fn prune_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(prune_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

fn validate(repo: &Repo, h: &HelmRelease, dir: &std::path::Path, out: &mut Vec<Finding>) {
    let Some(Ok(schema)) = charts::values_schema(dir) else { return };
    let Ok(validator) = jsonschema::options().should_validate_formats(false).build(&schema) else { return };
    let values: ReleaseValues = helm_values::release_values(repo, h);
    let mut merged = charts::coalesce(&chart_defaults(h, dir), &values.merged);
    prune_nulls(&mut merged);
    let incomplete = !values.missing.is_empty();
    let mut n = 0;
    for e in validator.iter_errors(&merged) {
        // Values from objects the repo does not hold may supply what is required.
        if incomplete && matches!(e.kind(), jsonschema::error::ValidationErrorKind::Required { .. }) {
            continue;
        }
        if n == MAX_PER_RELEASE {
            break;
        }
        n += 1;
        let pointer = e.instance_path().to_string();
        let origin = values.origin_of(&pointer).unwrap_or_else(|| Origin::at(&h.doc, "spec.chart"));
        let at = if pointer.is_empty() { "/".to_string() } else { pointer.clone() };
        let from = if values.missing.is_empty() {
            String::new()
        } else {
            format!(" (values from {} are not in the repo)", values.missing.join(", "))
        };
        out.push(Finding::new(
            Severity::Error,
            codes::HELM_VALUES_INVALID,
            &origin,
            format!(
                "{}: value at {at} does not match chart {}'s values.schema.json: {e}{from}; helm-controller fails the install (\"values don't meet the specifications of the schema(s)\"): fix the value",
                h.key, h.chart
            ),
        ));
    }
}

/// Validate the values of every HelmRelease whose chart is readable; the note on those whose chart
/// is not (said once).
pub(super) fn charts(repo: &Repo, out: &mut Vec<Finding>) -> Option<String> {
    let mut unavailable: Vec<&HelmRelease> = Vec::new();
    for h in repo.helm_releases() {
        match &h.chart_found {
            Some((dir, _)) => validate(repo, h, dir, out),
            None if !h.chart.is_empty() => unavailable.push(h),
            None => {}
        }
    }
    if unavailable.is_empty() {
        return None;
    }
    let mut names: Vec<String> = unavailable.iter().take(5).map(|h| format!("{} ({})", h.key.short(), h.chart)).collect();
    if unavailable.len() > 5 {
        names.push(format!("and {} more", unavailable.len() - 5));
    }
    let sources = repo.chart_sources().iter().map(|s| s.describe()).collect::<Vec<_>>();
    let looked = if sources.is_empty() {
        "no chart directory or source cassette given".to_string()
    } else {
        format!("not in {}", sources.join(", "))
    };
    Some(format!(
        "{} HelmRelease chart(s) are not reachable offline ({looked}): {}; their CRDs come from a table of well-known charts and their values are not validated against the chart: pass --charts DIR with the unpacked charts, or record them into the source cassette (`gitops-harness sources record`), to read them",
        unavailable.len(),
        names.join(", ")
    ))
}
