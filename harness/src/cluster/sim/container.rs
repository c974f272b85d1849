//! How a container of a Deployment runs as a host process, as the kubelet would start it: its
//! env resolved (field references answered for a pod on the sim node at 127.0.0.1), its args
//! after the program with `$(VAR)` expanded, the flags sim owns dropped. Shared by the operators
//! sim runs from their live Deployments ([`super::cert_manager`], [`super::flagger`]).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, EnvVar};

/// A container's env as the kubelet resolves it for a pod of `deployment` (field references
/// answered for a pod on the sim node at 127.0.0.1) and its args after the program (`command`
/// replaces the image's entrypoint, the program itself, and `args` follow it), `$(VAR)`
/// expanded; what cannot be carried over is added to `warnings`.
pub(crate) fn container_env_and_args(
    deployment: &Deployment,
    container: &Container,
    warnings: &mut Vec<String>,
) -> (Vec<(String, String)>, Vec<String>) {
    let namespace = deployment.metadata.namespace.clone().unwrap_or_else(|| "default".to_string());
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let id = format!("{namespace}/{name}");
    let pod = deployment.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    let service_account = pod.and_then(|p| p.service_account_name.clone()).unwrap_or_else(|| "default".to_string());
    let fields = BTreeMap::from([
        ("metadata.namespace", namespace),
        ("metadata.name", format!("{name}-sim")),
        ("spec.serviceAccountName", service_account),
        ("spec.nodeName", "sim-node-0".to_string()),
        ("status.podIP", "127.0.0.1".to_string()),
        ("status.hostIP", "127.0.0.1".to_string()),
    ]);
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container.env.iter().flatten() {
        match env_value(var, &fields, &env) {
            Ok(v) => env.push((var.name.clone(), v)),
            Err(why) => warnings.push(format!("{id}: env {} is not set in sim ({why})", var.name)),
        }
    }
    if container.env_from.as_ref().is_some_and(|e| !e.is_empty()) {
        warnings.push(format!("{id}: envFrom is not carried over to sim"));
    }
    let raw: Vec<&String> = container.command.iter().flatten().skip(1).chain(container.args.iter().flatten()).collect();
    let args = raw.into_iter().map(|a| expand(a, &env)).collect();
    (env, args)
}

/// The tag of an image reference (`repo:tag`, `repo:tag@digest`), if it has one.
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let i = no_digest.rfind(':')?;
    (!no_digest[i..].contains('/')).then(|| &no_digest[i + 1..])
}

fn env_value(var: &EnvVar, fields: &BTreeMap<&str, String>, earlier: &[(String, String)]) -> Result<String, String> {
    if let Some(v) = &var.value {
        // Values may refer to variables defined before them.
        return Ok(expand(v, earlier));
    }
    let Some(from) = &var.value_from else { return Ok(String::new()) };
    if let Some(f) = &from.field_ref {
        return fields.get(f.field_path.as_str()).cloned().ok_or_else(|| format!("fieldRef {} has no sim value", f.field_path));
    }
    if let Some(r) = &from.config_map_key_ref {
        return Err(format!("configMapKeyRef {}/{} is not read", r.name, r.key));
    }
    if let Some(r) = &from.secret_key_ref {
        return Err(format!("secretKeyRef {}/{} is not read", r.name, r.key));
    }
    Err("resourceFieldRef has no sim value".to_string())
}

/// Expand `$(VAR)` as the kubelet does: a defined variable is replaced, an undefined reference
/// is kept as written, `$$` is a literal `$`.
pub fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&rest[i..i + 2 + end + 1]),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn flag_name(arg: &str) -> Option<&str> {
    let a = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    Some(a.split_once('=').map(|(n, _)| n).unwrap_or(a))
}

/// Remove the flags the sim sets itself (`--flag=v`, `--flag v`, and bare booleans); `owned`
/// names them, `true` when the flag takes a value.
pub(crate) fn drop_flags(args: &[String], owned: &[(&str, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for a in args {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        match flag_name(a).and_then(|n| owned.iter().find(|(f, _)| *f == n)) {
            Some((_, takes_value)) => skip_next = *takes_value && !a.contains('='),
            None => out.push(a.clone()),
        }
    }
    out
}
