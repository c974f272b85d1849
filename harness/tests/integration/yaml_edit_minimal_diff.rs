//! Minimal-diff YAML edits on realistic files: the diff must be exactly the changed line(s).

use crate::common;

use std::path::Path;

use gitops_harness::scenarios::yaml_edit::{ContainerSel, DocSelector, EditError, YamlEditor, changed_lines};

fn faces_yaml() -> YamlEditor {
    let root = common::shared_reference().join("faces-demo-0.8.0");
    YamlEditor::open(&root, Path::new("k8s/01-base/faces.yaml")).expect("read faces.yaml")
}

fn faces_sync_yaml() -> YamlEditor {
    let root = common::shared_reference().join("gitops-linkerd");
    YamlEditor::open(&root, Path::new("apps/faces/faces-sync.yaml")).expect("read faces-sync.yaml")
}

fn name(s: &str) -> ContainerSel {
    ContainerSel::Name(s.to_string())
}

#[test]
fn env_value_of_one_deployment_changes_one_line() {
    let mut ed = faces_yaml();
    let face = DocSelector::object("Deployment", "face");
    assert!(ed.set_env(&face, &name("face"), "ERROR_FRACTION", "75").unwrap());
    // smiley and color carry the very same line; only face's changes.
    assert_eq!(changed_lines(&original(&ed), ed.text()), vec![r#"-          value: "20""#, r#"+          value: "75""#]);
    let diff = ed.diff();
    assert!(diff.starts_with("--- a/k8s/01-base/faces.yaml\n+++ b/k8s/01-base/faces.yaml\n@@ -38,7 +38,7 @@"), "{diff}");
    assert_eq!(
        ed.get(&face, "spec.template.spec.containers[name=face].env[name=ERROR_FRACTION].value").unwrap(),
        Some(serde_json::json!("75"))
    );
    let smiley = DocSelector::object("Deployment", "smiley");
    assert_eq!(
        ed.get(&smiley, "spec.template.spec.containers[name=smiley].env[name=ERROR_FRACTION].value").unwrap(),
        Some(serde_json::json!("20"))
    );
}

fn original(ed: &YamlEditor) -> String {
    // Re-read what the editor started from: the reference file is read-only and unchanged.
    let p = if ed.file().ends_with("faces.yaml") {
        common::shared_reference().join("faces-demo-0.8.0").join(ed.file())
    } else {
        common::shared_reference().join("gitops-linkerd").join(ed.file())
    };
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn set_scalar_by_path_keeps_quotes_and_comments() {
    let mut ed = faces_yaml();
    let face = DocSelector::object("Deployment", "face");
    ed.set(&face, "spec.template.spec.containers[name=face].resources.requests.cpu", "400m").unwrap();
    // The trailing comment on that line stays.
    assert_eq!(
        changed_lines(&original(&ed), ed.text()),
        vec![
            "-            cpu: 300m     # The face service doesn't need much memory, but it does need more",
            "+            cpu: 400m     # The face service doesn't need much memory, but it does need more",
        ]
    );
}

#[test]
fn image_tag_by_container_name_and_by_repo() {
    let mut ed = faces_yaml();
    let color = DocSelector::object("Deployment", "color");
    assert!(ed.set_image_tag(&color, &name("color"), "0.8.1").unwrap());
    assert_eq!(
        changed_lines(&original(&ed), ed.text()),
        vec!["-        image: dwflynn/faces-service:0.8.0", "+        image: dwflynn/faces-service:0.8.1"]
    );
    let mut ed = faces_yaml();
    let gui_root = common::shared_reference().join("faces-demo-0.8.0");
    let mut gui = YamlEditor::open(&gui_root, Path::new("k8s/01-base/faces-gui.yaml")).unwrap();
    let before = gui.text().to_string();
    gui.set_image_tag(&DocSelector::object("Deployment", "faces-gui"), &ContainerSel::ImageRepo("dwflynn/faces-gui".into()), "0.9.0")
        .unwrap();
    assert_eq!(
        changed_lines(&before, gui.text()),
        vec!["-        image: dwflynn/faces-gui:0.8.0", "+        image: dwflynn/faces-gui:0.9.0"]
    );
    // Setting the same tag again is a no-op.
    assert!(!ed.set_image_tag(&DocSelector::object("Deployment", "face"), &name("face"), "0.8.0").unwrap());
    assert!(!ed.changed());
}

#[test]
fn missing_env_var_is_appended_in_the_list_style_of_the_file() {
    let mut ed = faces_yaml();
    let smiley = DocSelector::object("Deployment", "smiley");
    ed.set_env(&smiley, &name("smiley"), "SMILEY", "HeartEyes").unwrap();
    assert_eq!(changed_lines(&original(&ed), ed.text()), vec!["+        - name: SMILEY", "+          value: \"HeartEyes\""]);
    // Appended right after DELAY_BUCKETS' value, before `resources:`.
    assert!(ed.text().contains(
        "          value: \"0,5,10,15,20,50,200,500,1500\"\n        - name: SMILEY\n          value: \"HeartEyes\"\n        resources:"
    ));

    // face's env list ends with commented-out entries: the new entry goes before the comments.
    let mut ed = faces_yaml();
    ed.set_env(&DocSelector::object("Deployment", "face"), &name("face"), "SMILEY", "Cursing").unwrap();
    assert!(
        ed.text()
            .contains("          value: \"20\"\n        - name: SMILEY\n          value: \"Cursing\"\n        # - name: DELAY_BUCKETS"),
        "{}",
        ed.diff()
    );
}

#[test]
fn env_list_is_created_when_the_container_has_none() {
    let root = common::shared_reference().join("faces-demo-0.8.0");
    let mut gui = YamlEditor::open(&root, Path::new("k8s/01-base/faces-gui.yaml")).unwrap();
    let before = gui.text().to_string();
    gui.set_env(&DocSelector::object("Deployment", "faces-gui"), &name("faces-gui"), "COLOR", "lightcyan").unwrap();
    assert_eq!(changed_lines(&before, gui.text()), vec!["+        env:", "+        - name: COLOR", "+          value: \"lightcyan\""]);
}

#[test]
fn value_inside_an_inline_kustomize_patch() {
    // The workshop's ERROR_FRACTION lives inside `patch: |` of the faces Kustomization.
    let mut ed = faces_sync_yaml();
    let ks = DocSelector::object("Kustomization", "faces");
    ed.set(&ks, "spec.patches[0].patch|[0].value.value", "75").unwrap();
    assert_eq!(changed_lines(&original(&ed), ed.text()), vec![r#"-            value: "0""#, r#"+            value: "75""#]);
    let diff = ed.diff();
    assert!(diff.contains("@@ -32,7 +32,7 @@"), "DEMO.md: the first patch value is on line 35: {diff}");
    assert_eq!(ed.get(&ks, "spec.patches[0].patch|[0].value.value").unwrap(), Some(serde_json::json!("75")));
    assert_eq!(ed.get(&ks, "spec.patches[1].patch|[0].value[0].value").unwrap(), Some(serde_json::json!("0")));
}

#[test]
fn helm_values_existing_and_new_keys() {
    let root = common::shared_reference().join("gitops-linkerd");
    let mut ed = YamlEditor::open(&root, Path::new("infrastructure/flagger/release.yaml")).unwrap();
    let before = ed.text().to_string();
    let hr = DocSelector::object("HelmRelease", "flagger");
    ed.set_helm_value(&hr, "meshProvider", "gatewayapi:v1beta1").unwrap();
    assert_eq!(changed_lines(&before, ed.text()), vec!["-    meshProvider: linkerd", "+    meshProvider: gatewayapi:v1beta1"]);
    let mut ed = YamlEditor::new("release.yaml", before.clone());
    ed.set_helm_value(&hr, "podMonitor.enabled", true).unwrap();
    assert_eq!(changed_lines(&before, ed.text()), vec!["+    podMonitor:", "+      enabled: true"]);
    assert_eq!(ed.get(&hr, "spec.values.podMonitor.enabled").unwrap(), Some(serde_json::json!(true)));
}

const MULTI: &str = r#"# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: first   # trailing
data:
  mode: 'single'
---
# a comment-only prelude
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  annotations: {team: "core", "example.com/owner": alice}
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: app
          image: "registry.local:5000/team/app:1.2.3" # pinned
          args: ["--port", "8080", plain]
          env:
            - {name: MODE, value: "blue"}
            - name: LEVEL
              value: info
        - name: sidecar
          image: 'busybox:1.36'
"#;

#[test]
fn multi_document_flow_and_quoted_styles() {
    let app = DocSelector::object("Deployment", "app");
    let cases: &[(&str, &str, Vec<&str>)] = &[
        (
            "spec.template.spec.containers[name=app].args[1]",
            "9090",
            vec![r#"-          args: ["--port", "8080", plain]"#, r#"+          args: ["--port", "9090", plain]"#],
        ),
        (
            "spec.template.spec.containers[name=app].args[2]",
            "other, thing",
            vec![r#"-          args: ["--port", "8080", plain]"#, r#"+          args: ["--port", "8080", "other, thing"]"#],
        ),
        (
            "spec.template.spec.containers[name=app].env[name=MODE].value",
            "green",
            vec![r#"-            - {name: MODE, value: "blue"}"#, r#"+            - {name: MODE, value: "green"}"#],
        ),
        (
            "spec.template.spec.containers[name=app].env[name=LEVEL].value",
            "10",
            vec!["-              value: info", "+              value: \"10\""],
        ),
        (
            "metadata.annotations[\"example.com/owner\"]",
            "bob",
            vec![
                r#"-  annotations: {team: "core", "example.com/owner": alice}"#,
                r#"+  annotations: {team: "core", "example.com/owner": bob}"#,
            ],
        ),
        (
            "spec.template.spec.containers[name=sidecar].image",
            "busybox:1.37",
            vec!["-          image: 'busybox:1.36'", "+          image: 'busybox:1.37'"],
        ),
    ];
    for (path, value, want) in cases {
        let mut ed = YamlEditor::new("multi.yaml", MULTI);
        ed.set(&app, path, *value).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(&changed_lines(MULTI, ed.text()), want, "{path}");
    }
    let mut ed = YamlEditor::new("multi.yaml", MULTI);
    ed.set(&app, "spec.replicas", 3i64).unwrap();
    assert_eq!(changed_lines(MULTI, ed.text()), vec!["-  replicas: 2", "+  replicas: 3"]);
    ed.set_image_tag(&app, &ContainerSel::ImageRepo("registry.local:5000/team/app".into()), "1.3.0").unwrap();
    assert!(ed.text().contains(r#"          image: "registry.local:5000/team/app:1.3.0" # pinned"#));
    ed.set(&DocSelector::Index(0), "data.mode", "it's").unwrap();
    assert!(ed.text().contains("  mode: 'it''s'\n"), "{}", ed.text());
    assert_eq!(ed.get(&DocSelector::Index(0), "data.mode").unwrap(), Some(serde_json::json!("it's")));
    assert!(ed.text().starts_with("# leading comment\n---\n"));
    // A second set on an already-edited text still yields only the lines edited so far.
    assert_eq!(changed_lines(MULTI, ed.text()).len(), 6);
}

#[test]
fn non_ascii_text_before_the_target() {
    let text = "metadata:\n  name: café # ünïcödé comment ✓\n  labels:\n    tier: \"frönt\"\n";
    let mut ed = YamlEditor::new("u.yaml", text);
    ed.set(&DocSelector::Index(0), "metadata.labels.tier", "bäck").unwrap();
    assert_eq!(changed_lines(text, ed.text()), vec!["-    tier: \"frönt\"", "+    tier: \"bäck\""]);
}

#[test]
fn errors_name_file_document_path_and_what_was_found() {
    let mut ed = faces_yaml();
    let err = ed.set(&DocSelector::object("Deployment", "nope"), "spec.replicas", 1i64).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EditError::DocNotFound { .. }));
    assert!(msg.contains("k8s/01-base/faces.yaml") && msg.contains("Deployment nope") && msg.contains("Deployment face"), "{msg}");

    let err = ed.set(&DocSelector::object("Deployment", "face"), "spec.template.spec.containers[name=fase].image", "x").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("k8s/01-base/faces.yaml")
            && msg.contains("Deployment face")
            && msg.contains("spec.template.spec.containers[name=fase].image")
            && msg.contains("name=fase")
            && msg.contains("[face]"),
        "{msg}"
    );

    let err = ed.set(&DocSelector::object("Deployment", "face"), "spec.template.spec.volumes[0]", "x").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("at `spec.template.spec`") && msg.contains("expected key `volumes`") && msg.contains("containers"), "{msg}");

    let err = ed.set(&DocSelector::object("Deployment", "face"), "spec.template", "x").unwrap_err();
    assert!(err.to_string().contains("expected a scalar, found a mapping"), "{err}");

    let err = ed.set_env(&DocSelector::object("Deployment", "face"), &name("nope"), "X", "1").unwrap_err();
    assert!(err.to_string().contains("container named `nope`") && err.to_string().contains("face (dwflynn/faces-service:0.8.0)"), "{err}");

    let err = YamlEditor::new("bad.yaml", "a: [1, 2\nb: c\n").set(&DocSelector::Index(0), "a[0]", 3i64).unwrap_err();
    assert!(matches!(err, EditError::Parse { .. }) && err.to_string().starts_with("bad.yaml:"), "{err}");

    let err = ed.set(&DocSelector::Index(0), "spec..x", "1").unwrap_err();
    assert!(matches!(err, EditError::BadPath { .. }), "{err}");
    assert!(!ed.changed(), "failed edits leave the text alone");
}

#[test]
fn save_writes_only_the_edit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("k8s")).unwrap();
    let src = common::shared_reference().join("faces-demo-0.8.0/k8s/01-base/faces.yaml");
    std::fs::copy(&src, dir.path().join("k8s/faces.yaml")).unwrap();
    let mut ed = YamlEditor::open(dir.path(), Path::new("k8s/faces.yaml")).unwrap();
    ed.set_env(&DocSelector::object("Deployment", "color"), &name("color"), "ERROR_FRACTION", "75").unwrap();
    ed.save(dir.path()).unwrap();
    let after = std::fs::read_to_string(dir.path().join("k8s/faces.yaml")).unwrap();
    let before = std::fs::read_to_string(&src).unwrap();
    assert_eq!(changed_lines(&before, &after), vec![r#"-          value: "20""#, r#"+          value: "75""#]);
}

#[test]
fn crlf_files_keep_their_line_endings() {
    let text = "apiVersion: apps/v1\r\nkind: Deployment\r\nmetadata:\r\n  name: app # c\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n      - name: app\r\n        image: a:1\r\n        env:\r\n        - name: X\r\n          value: \"1\"\r\n";
    let d = DocSelector::object("Deployment", "app");
    let mut ed = YamlEditor::new("crlf.yaml", text);
    ed.set_image_tag(&d, &name("app"), "2").unwrap();
    ed.set_env(&d, &name("app"), "X", "2").unwrap();
    assert_eq!(ed.text(), text.replace("a:1", "a:2").replace("value: \"1\"", "value: \"2\""));
    ed.set_env(&d, &name("app"), "Y", "3").unwrap();
    assert!(ed.text().ends_with("          value: \"2\"\r\n        - name: Y\r\n          value: \"3\"\r\n"), "{:?}", ed.text());
}
