//! HelmReleases rendered as helm-controller renders them, with the chart read offline (in git, or
//! from a chart source): `helm template` of the release name (`spec.releaseName`, else
//! `[targetNamespace-]name`) in the release namespace (`targetNamespace`, else the HelmRelease's)
//! with the composed values (`valuesFrom` then `spec.values`), the chart's `crds/` unless
//! `install.crds: Skip`; then each `postRenderers[].kustomize` (`patches`, `images`) as a
//! kustomize pass over the output, `spec.commonMetadata`, and the origin labels
//! `helm.toolkit.fluxcd.io/name` and `/namespace` helm-controller puts on every object.

use std::ffi::OsString;

use serde_json::{Map, Value};

use super::{RenderError, RenderOptions, Rendered, Workspace, interrupted, io, parse_output, process};
use crate::repo::helm_values;
use crate::repo::{HelmRelease, Repo};
use crate::tools::{self, Tool};

/// Set `metadata.<field>.<k> = v` on an object.
fn set_meta(obj: &mut Value, field: &str, k: &str, v: &Value) {
    let Some(o) = obj.as_object_mut() else { return };
    let meta = o.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else { return };
    let m = meta.entry(field).or_insert_with(|| Value::Object(Map::new()));
    if let Some(m) = m.as_object_mut() {
        m.insert(k.to_string(), v.clone());
    }
}

/// Render one HelmRelease in a worker's workspace.
pub fn render_helm_release(repo: &Repo, hr: &HelmRelease, opts: &RenderOptions, ws: &Workspace) -> Result<Rendered, RenderError> {
    let what = hr.key.to_string();
    if interrupted() {
        return Err(RenderError::Interrupted(what));
    }
    let Some((chart, _)) = &hr.chart_found else { return Err(RenderError::ChartUnavailable(hr.key.clone())) };
    let helm = tools::find(Tool::Helm)?;
    ws.clear()?;
    let dir = ws.path();
    let values = helm_values::release_values(repo, hr);
    let values_file = dir.join("values.yaml");
    let text = serde_json::to_string(&values.merged).map_err(|e| RenderError::Output { what: what.clone(), message: e.to_string() })?;
    std::fs::write(&values_file, text).map_err(io(&what, &values_file))?;
    let ns = hr.release_namespace().unwrap_or("default").to_string();
    let skip_crds = hr.doc.value.pointer("/spec/install/crds").and_then(Value::as_str) == Some("Skip");
    let mut args: Vec<OsString> = vec![
        "template".into(),
        hr.release_name().into(),
        chart.into(),
        "--namespace".into(),
        ns.clone().into(),
        "--values".into(),
        values_file.clone().into(),
        if skip_crds { "--skip-crds".into() } else { "--include-crds".into() },
    ];
    if let Some(v) = hr.doc.value.pointer("/spec/chart/spec/valuesFiles").and_then(Value::as_array) {
        // The chart's own values files come before the release's values.
        let mut files: Vec<OsString> = Vec::new();
        for f in v.iter().filter_map(Value::as_str) {
            files.push("--values".into());
            files.push(chart.join(f).into());
        }
        args.splice(5..5, files);
    }
    let job = process::Job { what: &what, dir: chart, temp: Some(dir), helm: true };
    let out = process::run(&helm, &args, &job, opts.timeout)?;
    let mut yaml = String::from_utf8(out).map_err(|e| RenderError::Output { what: what.clone(), message: e.to_string() })?;
    // Post-renderers, in order: each a kustomize pass over what the previous one produced.
    for (i, pr) in hr.doc.value.pointer("/spec/postRenderers").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let Some(k) = pr.get("kustomize") else { continue };
        let rendered = dir.join(format!("rendered-{i}.yaml"));
        std::fs::write(&rendered, &yaml).map_err(io(&what, &rendered))?;
        let mut kust = Map::new();
        kust.insert("apiVersion".into(), "kustomize.config.k8s.io/v1beta1".into());
        kust.insert("kind".into(), "Kustomization".into());
        kust.insert("resources".into(), serde_json::json!([format!("rendered-{i}.yaml")]));
        for field in ["patches", "images"] {
            if let Some(v) = k.get(field) {
                kust.insert(field.into(), v.clone());
            }
        }
        let kfile = dir.join("kustomization.yaml");
        let text = serde_norway::to_string(&Value::Object(kust))
            .map_err(|e| RenderError::Output { what: what.clone(), message: e.to_string() })?;
        std::fs::write(&kfile, text).map_err(io(&what, &kfile))?;
        yaml = super::kustomize_in(dir, &format!("{what} (postRenderers[{i}])"), chart, Some(dir), opts.timeout)?;
    }
    let mut objects = parse_output(&yaml, &what)?;
    let common = hr.doc.value.pointer("/spec/commonMetadata").cloned().unwrap_or(Value::Null);
    let hr_ns = hr.key.namespace.clone().unwrap_or_default();
    for o in &mut objects {
        for field in ["labels", "annotations"] {
            for (k, v) in common.get(field).and_then(Value::as_object).into_iter().flatten() {
                set_meta(o, field, k, v);
            }
        }
        set_meta(o, "labels", "helm.toolkit.fluxcd.io/name", &Value::String(hr.key.name.clone()));
        set_meta(o, "labels", "helm.toolkit.fluxcd.io/namespace", &Value::String(hr_ns.clone()));
    }
    let mut out = String::new();
    for o in &objects {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(o).map_err(|e| RenderError::Output { what: what.clone(), message: e.to_string() })?);
    }
    Ok(Rendered { key: hr.key.clone(), objects, yaml: out, unresolved_vars: values.missing, remote: Vec::new() })
}
