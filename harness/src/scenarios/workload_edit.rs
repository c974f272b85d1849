//! Workload edits a scenario makes through [`YamlEditor`]: a container's image tag or env var,
//! a HelmRelease value. They build on the path editor; they are what scenarios and suites call.

// Errors carry file, document and path context for the message; edits are not a hot path.
#![allow(clippy::result_large_err)]

use yaml_rust2::scanner::TScalarStyle;

use super::yaml_edit::internals::*;
use super::yaml_edit::{ContainerSel, DocSelector, EditError, ScalarValue, YamlEditor, parse_path};

impl YamlEditor {
    /// Paths of the pod template's container lists in a workload document.
    pub(crate) fn containers_paths(root: &Node) -> Vec<Vec<Segment>> {
        let k = |s: &str| Segment::Key(s.to_string());
        let candidates = [
            vec![k("spec"), k("template"), k("spec")],
            vec![k("spec"), k("jobTemplate"), k("spec"), k("template"), k("spec")],
            vec![k("spec")],
        ];
        let mut out = Vec::new();
        for base in candidates {
            for list in ["containers", "initContainers"] {
                let mut p = base.clone();
                p.push(k(list));
                let mut n = Some(root);
                for seg in &p {
                    n = n.and_then(|n| if let Segment::Key(key) = seg { n.get(key) } else { None });
                }
                if matches!(n.map(|n| &n.kind), Some(NodeKind::Seq(_))) {
                    out.push(p);
                }
            }
            if !out.is_empty() {
                break;
            }
        }
        out
    }

    /// Path of the selected container (e.g. `spec.template.spec.containers[name=face]`).
    pub(crate) fn container_path(
        &self,
        doc: &DocSelector,
        sel: &ContainerSel,
    ) -> Result<(String, Vec<Segment>, Option<String>), EditError> {
        let docs = parse_docs(&self.file, &self.text)?;
        let (idx, d) = select_doc(&self.file, &docs, doc)?;
        let ctx = self.ctx(idx, d, "spec.template.spec.containers");
        let root = d.root.as_ref().ok_or_else(|| ctx.not_found(&[], "expected a workload".into(), "an empty document".into()))?;
        let lists = Self::containers_paths(root);
        if lists.is_empty() {
            return Err(ctx.not_found(&[], "expected a pod template with containers".into(), root.describe()));
        }
        let mut seen = Vec::new();
        for list in &lists {
            let mut n = root;
            for seg in list {
                n = step(&ctx, n, seg, &[])?;
            }
            let NodeKind::Seq(items) = &n.kind else { continue };
            for it in items {
                let name = it.get("name").and_then(Node::scalar).unwrap_or("").to_string();
                let image = it.get("image").and_then(Node::scalar).map(str::to_string);
                seen.push(format!("{name} ({})", image.as_deref().unwrap_or("no image")));
                let hit = match sel {
                    ContainerSel::Name(want) => &name == want,
                    ContainerSel::ImageRepo(repo) => image.as_deref().map(|i| split_image(i).0 == repo.as_str()).unwrap_or(false),
                };
                if hit {
                    let mut p = list.clone();
                    p.push(Segment::Match { key: "name".into(), value: name });
                    return Ok((path_to_string(&p), p, image));
                }
            }
        }
        Err(EditError::PathNotFound {
            file: self.file.clone(),
            doc: describe_doc(idx, d),
            path: path_to_string(&lists[0]),
            at: path_to_string(&lists[0]),
            expected: format!("expected a {sel}"),
            found: format!("containers [{}]", seen.join(", ")),
        })
    }

    /// Set the image tag of a container (keeping its repository); returns whether it changed.
    pub fn set_image_tag(&mut self, doc: &DocSelector, container: &ContainerSel, tag: &str) -> Result<bool, EditError> {
        let (cpath, _, image) = self.container_path(doc, container)?;
        let image = image.unwrap_or_default();
        let (repo, _) = split_image(&image);
        let new_image = format!("{repo}:{tag}");
        self.set(doc, &format!("{cpath}.image"), new_image)
    }

    /// Set the value of env var `name` of a container; adds the entry at the end of the `env`
    /// list (or adds `env:` right after the container's `name:`) when it is missing.
    pub fn set_env(&mut self, doc: &DocSelector, container: &ContainerSel, name: &str, value: &str) -> Result<bool, EditError> {
        let (cpath, csegs, _) = self.container_path(doc, container)?;
        let value_path = format!("{cpath}.env[name={name}].value");
        let docs = parse_docs(&self.file, &self.text)?;
        let (idx, d) = select_doc(&self.file, &docs, doc)?;
        let ctx = self.ctx(idx, d, &value_path);
        let root = d.root.as_ref().ok_or_else(|| ctx.not_found(&[], "expected a workload".into(), "an empty document".into()))?;
        let mut cnode = root;
        for (i, seg) in csegs.iter().enumerate() {
            cnode = step(&ctx, cnode, seg, &csegs[..i])?;
        }
        let env = cnode.get("env");
        let existing = match env.map(|e| &e.kind) {
            Some(NodeKind::Seq(items)) => items.iter().find(|it| it.get("name").and_then(Node::scalar) == Some(name)).cloned(),
            _ => None,
        };
        if let Some(entry) = existing {
            if entry.get("value").is_some() {
                return self.set(doc, &value_path, value);
            }
            return Err(ctx.unsupported(entry.line, format!("env var {name} has no `value` (valueFrom?); edit it by hand")));
        }
        let seq_indent_style = sequence_indent(&self.text, cnode);
        let (insert_at, text) = match env {
            Some(env_node) => {
                let NodeKind::Seq(items) = &env_node.kind else {
                    return Err(ctx.unsupported(env_node.line, format!("`env` is {}, expected a list", env_node.describe())));
                };
                if items.is_empty() || text_at_flow(&self.text, env_node.start) {
                    return Err(ctx.unsupported(env_node.line, "`env` is a flow list (`[...]`); write it as a block list first".into()));
                }
                let last = &items[items.len() - 1];
                let dash_col = col_of(&self.text, dash_before(&self.text, last.start));
                let end = block_item_end(&self.text, last.start, dash_col);
                let pad = " ".repeat(dash_col);
                (
                    end,
                    format!(
                        "{pad}- name: {name}\n{pad}  value: {}\n",
                        render_scalar(&ScalarValue::Str(value.to_string()), TScalarStyle::DoubleQuoted, false)
                    ),
                )
            }
            None => {
                // After the container's `name:` line, at the container's key column.
                let name_node = cnode.get("name").ok_or_else(|| ctx.unsupported(cnode.line, "container has no name".into()))?;
                let key_col = col_of(&self.text, name_node.key_start);
                let line_end = self.text[name_node.start..].find('\n').map(|e| name_node.start + e + 1).unwrap_or(self.text.len());
                let pad = " ".repeat(key_col);
                let item_pad = " ".repeat(key_col + seq_indent_style);
                (line_end, format!("{pad}env:\n{item_pad}- name: {name}\n{item_pad}  value: {}\n", double_quoted(value)))
            }
        };
        let text = with_eol(&self.text, &text);
        let mut new_text = String::with_capacity(self.text.len() + text.len() + 2);
        new_text.push_str(&self.text[..insert_at]);
        if insert_at > 0 && !self.text[..insert_at].ends_with('\n') {
            new_text.push_str(eol(&self.text));
        }
        new_text.push_str(&text);
        new_text.push_str(&self.text[insert_at..]);
        let segs = parse_path(&value_path)?;
        self.verify(&new_text, idx, &ctx, &segs, &serde_json::Value::String(value.to_string()))?;
        self.text = new_text;
        Ok(true)
    }

    /// Set a value under a HelmRelease's `spec.values` (dotted path inside values); missing keys
    /// are added at the top of the deepest existing mapping.
    pub fn set_helm_value(&mut self, doc: &DocSelector, values_path: &str, value: impl Into<ScalarValue>) -> Result<bool, EditError> {
        self.upsert(doc, &format!("spec.values.{values_path}"), value)
    }
}

/// Split `registry:5000/repo/name:tag@sha256:...` into (repository, tag-or-digest suffix).
pub fn split_image(image: &str) -> (&str, &str) {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last_slash = no_digest.rfind('/').map(|p| p + 1).unwrap_or(0);
    match no_digest[last_slash..].rfind(':') {
        Some(c) => (&image[..last_slash + c], &image[last_slash + c..]),
        None => (no_digest, &image[no_digest.len()..]),
    }
}
