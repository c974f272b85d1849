//! ResourceSet expansion against the operator's documented behaviour.

use std::path::Path;

use serde_json::Value;

use super::*;

fn docs(text: &str) -> Vec<YamlDoc> {
    yaml_docs::parse_str(Path::new("apps/rset.yaml"), text).unwrap()
}

fn run(text: &str, providers: &str) -> Expansion {
    let d = docs(text);
    let pdocs = docs(providers);
    let ps: Vec<Provider> = pdocs
        .iter()
        .map(|d| Provider { name: d.str_at("metadata.name").unwrap(), namespace: d.str_at("metadata.namespace"), doc: d })
        .collect();
    expand(&d[0], d[0].str_at("metadata.name").unwrap(), d[0].str_at("metadata.namespace").unwrap(), &ps)
}

fn names(e: &Expansion) -> Vec<String> {
    e.docs
        .iter()
        .map(|d| format!("{}/{}", d.value["kind"].as_str().unwrap_or(""), d.value["metadata"]["name"].as_str().unwrap_or("")))
        .collect()
}

const TENANTS: &str = "apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata:
  name: web
  namespace: apps
spec:
  commonMetadata:
    labels:
      team: platform
  inputs:
    - tenant: blue
      app:
        version: \"1.2.x\"
        replicas: 2
    - tenant: green
      app:
        version: \"1.3.x\"
        replicas: 5
  resources:
    - apiVersion: source.toolkit.fluxcd.io/v1
      kind: OCIRepository
      metadata:
        name: web
        namespace: apps
      spec:
        interval: 10m
        url: oci://registry.example/charts/web
        ref:
          semver: '*'
    - apiVersion: helm.toolkit.fluxcd.io/v2
      kind: HelmRelease
      metadata:
        name: web-<< inputs.tenant >>
        namespace: apps
      spec:
        interval: 1h
        chartRef:
          kind: OCIRepository
          name: web
        values:
          replicaCount: << inputs.app.replicas | int >>
          version: << inputs.app.version | quote >>
";

#[test]
fn inputs_times_resources_with_dedup_and_metadata() {
    let e = run(TENANTS, "");
    assert!(e.problems.is_empty(), "{:?}", e.problems);
    // Per template, then per input; the shared source once.
    assert_eq!(names(&e), vec!["OCIRepository/web", "HelmRelease/web-blue", "HelmRelease/web-green"]);
    let green = &e.docs[2].value;
    assert_eq!(green["spec"]["values"]["replicaCount"], 5, "`int` gives a number");
    assert_eq!(green["spec"]["values"]["version"], "1.3.x", "`quote` keeps a string");
    assert_eq!(green["metadata"]["labels"]["team"], "platform");
    assert_eq!(green["metadata"]["labels"]["resourceset.fluxcd.controlplane.io/name"], "web");
    // Positions map into the ResourceSet: the HelmRelease template's fields, and the input named.
    let d = &e.docs[2];
    assert_eq!(d.file, Path::new("apps/rset.yaml"));
    assert_eq!(d.line_at("spec.values.replicaCount"), 41);
    assert_eq!(d.line_at(""), 30);
    let note = d.generated_note().unwrap();
    assert!(note.contains("ResourceSet apps/web") && note.contains("inputs[1]") && note.contains("tenant: green"), "{note}");
}

#[test]
fn template_with_range_if_and_trim_markers() {
    let text = "apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata:
  name: bundles
  namespace: flux-system
spec:
  inputs:
    - bundle: infra
      decrypt: false
      parts: [ingress, certs]
    - bundle: apps
      decrypt: true
      parts: [web]
  resourcesTemplate: |
    ---
    apiVersion: source.toolkit.fluxcd.io/v1
    kind: OCIRepository
    metadata:
      name: << inputs.bundle >>
      namespace: flux-system
    spec:
      url: oci://registry.example/<< inputs.bundle >>
    <<- range $p := inputs.parts >>
    ---
    apiVersion: kustomize.toolkit.fluxcd.io/v1
    kind: Kustomization
    metadata:
      name: << $p >>
      namespace: flux-system
    spec:
      <<- if inputs.decrypt >>
      decryption:
        provider: sops
      <<- end >>
      sourceRef:
        kind: OCIRepository
        name: << inputs.bundle >>
      path: ./<< $p >>
    <<- end >>
";
    let e = run(text, "");
    assert!(e.problems.is_empty(), "{:?}", e.problems);
    assert_eq!(
        names(&e),
        vec!["OCIRepository/infra", "Kustomization/ingress", "Kustomization/certs", "OCIRepository/apps", "Kustomization/web"]
    );
    assert!(e.docs[1].value["spec"].get("decryption").is_none());
    assert_eq!(e.docs[4].value["spec"]["decryption"]["provider"], "sops");
    assert_eq!(e.docs[4].value["spec"]["path"], "./web");
    // A template string maps to its key's line.
    assert_eq!(e.docs[4].line_at("spec.path"), 14);
}

#[test]
fn excluded_nested_and_no_inputs() {
    let text = "apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata:
  name: t
  namespace: flux-system
spec:
  inputs:
    - tenant: a
      data: {k1: v1, k2: v2}
    - tenant: b
      data: {k1: x}
  resources:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        name: << inputs.tenant >>
        annotations:
          fluxcd.controlplane.io/reconcile: << if eq inputs.tenant \"a\" >>enabled<< else >>disabled<< end >>
      data: << inputs.data | toYaml | nindent 2 >>
";
    let e = run(text, "");
    assert!(e.problems.is_empty(), "{:?}", e.problems);
    assert_eq!(names(&e), vec!["ConfigMap/a"]);
    assert_eq!(e.docs[0].value["data"], serde_json::json!({"k1": "v1", "k2": "v2"}));
    let none = "apiVersion: fluxcd.controlplane.io/v1\nkind: ResourceSet\nmetadata:\n  name: n\n  namespace: x\nspec:\n  resources:\n    - apiVersion: v1\n      kind: Namespace\n      metadata:\n        name: fixed\n";
    assert_eq!(names(&run(none, "")), vec!["Namespace/fixed"]);
}

#[test]
fn static_providers_flatten_and_permute() {
    let providers = "apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSetInputProvider
metadata:
  name: region-eu
  namespace: apps
  labels:
    kind: region
spec:
  type: Static
  defaultValues:
    region: eu
---
apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSetInputProvider
metadata:
  name: prs
  namespace: apps
spec:
  type: GitHubPullRequest
  url: https://github.com/org/repo
";
    let flat = "apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata:
  name: regional
  namespace: apps
spec:
  inputsFrom:
    - selector:
        matchLabels:
          kind: region
    - name: prs
  resources:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        name: cm-<< inputs.region >>
        namespace: apps
      data:
        id: << inputs.id | quote >>
        from: << inputs.provider.kind >>
";
    let e = run(flat, providers);
    assert_eq!(names(&e), vec!["ConfigMap/cm-eu"]);
    assert_eq!(e.docs[0].value["data"]["id"], funcs::adler32(b"region-eu").to_string());
    assert_eq!(e.docs[0].value["data"]["from"], "ResourceSetInputProvider");
    assert!(matches!(&e.problems[..], [(_, Problem::Partial(m))] if m.contains("prs (GitHubPullRequest)")), "{:?}", e.problems);

    let permute = "apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata:
  name: my-set
  namespace: apps
spec:
  inputStrategy:
    name: Permute
  inputs:
    - size: s
    - size: l
  inputsFrom:
    - name: region-eu
  resources:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        name: << inputs.my_set.size >>-<< inputs.region_eu.region >>-<< inputs.id >>
        namespace: apps
";
    let e = run(permute, providers);
    assert!(e.problems.is_empty(), "{:?}", e.problems);
    let want: Vec<String> = ["s", "l"]
        .iter()
        .enumerate()
        .map(|(i, s)| format!("ConfigMap/{s}-eu-{}", funcs::adler32(format!("my_set={i}/region_eu=0").as_bytes())))
        .collect();
    assert_eq!(names(&e), want);
}

#[test]
fn template_errors_are_invalid_and_unknown_functions_partial() {
    let bad = TENANTS.replace("<< inputs.tenant >>", "<< inputs.team >>");
    let e = run(&bad, "");
    assert!(
        matches!(&e.problems[..], [(at, Problem::Invalid(m))] if at == "spec.resources.1" && m.contains("no entry for key \"team\"")),
        "{:?}",
        e.problems
    );
    let unsupported = TENANTS.replace("<< inputs.tenant >>", "<< inputs.tenant | sha1sum >>");
    let e = run(&unsupported, "");
    assert!(matches!(&e.problems[..], [(_, Problem::Partial(m))] if m.contains("sha1sum")), "{:?}", e.problems);
    let v: Value = e.docs[0].value.clone();
    assert_eq!(v["kind"], "OCIRepository", "the other templates still expand");
}
