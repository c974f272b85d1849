//! An `ArtifactGenerator`'s artifact read in place (Flux 2.7+, source-controller's
//! `source.extensions.fluxcd.io`): when every copy rule of the artifact takes a whole directory
//! of one source (`from: "@alias/<dir>/**"`) into the same place relative to the artifact
//! (`to: "@artifact/<sub>/"`, where `<dir>` ends with `<sub>`), the artifact is that source's
//! directory `<dir>` minus `<sub>` with only those parts copied. Its Kustomizations are then
//! read from the repository like the source itself; any other rule (single files, excludes, a
//! merge strategy, several sources) keeps the artifact external.

use std::path::PathBuf;

use serde_json::Value;

use super::loader::Loader;
use super::model::{ObjectRef, SourceRef};

/// The source an artifact is copied from and the directory of that source it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ArtifactView {
    /// The generator's source (`spec.sources[]` of the rules' alias).
    pub source: SourceRef,
    /// The directory, relative to that source's root.
    pub dir: PathBuf,
}

/// The view of artifact `name` of an ArtifactGenerator object, when its copy rules keep the
/// source's layout.
pub(super) fn view(generator: &Value, name: &str, namespace: &str) -> Option<ArtifactView> {
    let spec = generator.get("spec")?;
    let artifact = spec.get("artifacts")?.as_array()?.iter().find(|a| a.get("name").and_then(Value::as_str) == Some(name))?;
    let rules = artifact.get("copy")?.as_array()?;
    let mut alias: Option<&str> = None;
    let mut base: Option<PathBuf> = None;
    for r in rules {
        // Only plain directory copies keep the layout.
        if r.get("exclude").is_some() || r.get("strategy").and_then(Value::as_str).is_some_and(|s| s != "Overwrite") {
            return None;
        }
        let from = r.get("from")?.as_str()?.strip_prefix('@')?;
        let (a, path) = from.split_once('/').unwrap_or((from, ""));
        let dir = path.strip_suffix("**")?.trim_end_matches('/');
        if dir.contains(['*', '?', '[']) || dir.split('/').any(|c| c == "..") || alias.is_some_and(|x| x != a) {
            return None;
        }
        alias = Some(a);
        let to = r.get("to")?.as_str()?.strip_prefix("@artifact")?.trim_matches('/');
        // `<dir>` = `<base>/<to>`: the copy keeps everything where the source has it.
        let rule_base = if to.is_empty() {
            dir
        } else {
            let cut = dir.strip_suffix(to)?;
            if !(cut.is_empty() || cut.ends_with('/')) {
                return None;
            }
            cut.trim_end_matches('/')
        };
        if base.as_ref().is_some_and(|b| b.as_os_str() != rule_base) {
            return None;
        }
        base = Some(PathBuf::from(rule_base));
    }
    let alias = alias?;
    let src = spec.get("sources")?.as_array()?.iter().find(|s| s.get("alias").and_then(Value::as_str) == Some(alias))?;
    Some(ArtifactView { source: SourceRef::from_value(src, namespace)?, dir: base? })
}

impl Loader {
    /// Give a generated ExternalArtifact the directory of this repository it stands for, when its
    /// generator's copy rules keep the layout of a source that is this repository.
    pub(super) fn resolve_artifact(&mut self, key: &ObjectRef) {
        let Some(decl) = self.repo.source(key).filter(|d| key.kind == "ExternalArtifact" && d.local_root.is_none()) else { return };
        // Only what an ArtifactGenerator in the repo generates (a declared ExternalArtifact is external).
        let Some(doc) = decl.doc.as_ref().filter(|d| d.value.get("kind").and_then(Value::as_str) == Some("ArtifactGenerator")) else {
            return;
        };
        let Some(v) = view(&doc.value, &key.name, key.ns()) else { return };
        let Some(base) = self.repo.source(&v.source.key()).and_then(|d| d.local_root.clone()) else { return };
        if let Some(d) = self.repo.sources.iter_mut().find(|s| &s.key == key) {
            d.local_root = Some(base.join(v.dir));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn generator(copy: Value) -> Value {
        json!({"spec": {"sources": [{"alias": "mono", "kind": "GitRepository", "name": "flux-system"}],
            "artifacts": [{"name": "apps", "copy": copy}]}})
    }

    #[test]
    fn directory_copies_that_keep_the_layout_are_read_in_place() {
        let g = generator(
            json!([{"from": "@mono/apps/base/**", "to": "@artifact/base/"}, {"from": "@mono/apps/staging/**", "to": "@artifact/staging/"}]),
        );
        let v = view(&g, "apps", "flux-system").unwrap();
        assert_eq!(
            (v.source.kind.as_str(), v.source.name.as_str(), v.source.namespace.as_str()),
            ("GitRepository", "flux-system", "flux-system")
        );
        assert_eq!(v.dir, PathBuf::from("apps"));
        let whole = generator(json!([{"from": "@mono/infrastructure/**", "to": "@artifact/"}]));
        assert_eq!(view(&whole, "apps", "x").unwrap().dir, PathBuf::from("infrastructure"));
        assert!(view(&whole, "other", "x").is_none());
    }

    #[test]
    fn other_rules_keep_the_artifact_external() {
        for copy in [
            json!([{"from": "@mono/apps/base/**", "to": "@artifact/"}, {"from": "@mono/apps/staging/**", "to": "@artifact/staging/"}]),
            json!([{"from": "@mono/apps/x.yaml", "to": "@artifact/x.yaml"}]),
            json!([{"from": "@mono/apps/**", "to": "@artifact/", "exclude": ["*.md"]}]),
            json!([{"from": "@mono/apps/**", "to": "@artifact/", "strategy": "Merge"}]),
            json!([{"from": "@mono/apps/**", "to": "@artifact/other/"}]),
            json!([{"from": "@mono/apps/*/base/**", "to": "@artifact/"}]),
            json!([{"from": "@mono/../outside/**", "to": "@artifact/"}]),
        ] {
            assert!(view(&generator(copy.clone()), "apps", "x").is_none(), "{copy}");
        }
    }
}
