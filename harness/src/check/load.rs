//! Findings for what the loader met: broken YAML, unreadable or missing files, references out of
//! the repo, kustomize cycles, duplicate Flux objects.

use super::{Finding, Severity, codes};
use crate::repo::{LoadIssue, Repo};

pub(super) fn issues(repo: &Repo, out: &mut Vec<Finding>) {
    for issue in repo.issues() {
        let f = match issue {
            LoadIssue::InvalidYaml { origin, message } => Finding::new(
                Severity::Error,
                codes::YAML_INVALID,
                origin,
                format!("invalid YAML: {message}; Flux cannot build this directory until it parses"),
            ),
            LoadIssue::Unreadable { origin, message } => Finding::new(
                Severity::Error,
                codes::FILE_UNREADABLE,
                origin,
                format!("cannot read {}: {message}; fix the file (or its permissions) or remove it", origin.file.display()),
            ),
            LoadIssue::MissingResource { origin, entry, reason } => Finding::new(
                Severity::Error,
                codes::KUSTOMIZE_RESOURCE_MISSING,
                origin,
                format!("kustomize entry `{entry}` {reason}; create it or remove it from the list"),
            ),
            LoadIssue::MissingPatch { origin, entry } => Finding::new(
                Severity::Error,
                codes::KUSTOMIZE_PATCH_MISSING,
                origin,
                format!("kustomize patch file `{entry}` does not exist; create it or remove the patch"),
            ),
            LoadIssue::MissingGeneratorFile { origin, generator, file } => {
                let hint = if file.ends_with("ca.crt") || file.ends_with("ca.key") {
                    " (the Linkerd trust anchor: create it with `step certificate create root.linkerd.cluster.local ca.crt ca.key --profile root-ca --no-password --insecure`; `gitops-harness up` generates it into its served copy)"
                } else {
                    ""
                };
                Finding::new(
                    Severity::Error,
                    codes::KUSTOMIZE_GENERATOR_FILE_MISSING,
                    origin,
                    format!("generator `{generator}` reads `{file}`, which does not exist{hint}; kustomize build fails until it is there"),
                )
            }
            LoadIssue::GeneratorTooLarge { origin, generator, bytes } => Finding::new(
                Severity::Error,
                codes::OBJECT_TOO_LARGE,
                origin,
                format!(
                    "generator `{generator}` reads {bytes} bytes, over the 1 MiB (1048576 bytes) a ConfigMap or Secret may hold; the apply fails: split it or mount the data another way"
                ),
            ),
            LoadIssue::MissingPath { key, origin, path } => Finding::new(
                Severity::Error,
                codes::PATH_MISSING,
                origin,
                format!("{key}: path `{path}`: no such file or directory in its source (this repo); fix spec.path"),
            ),
            LoadIssue::UnresolvedPath { key, origin, path } => Finding::new(
                Severity::Info,
                codes::PATH_UNRESOLVED,
                origin,
                format!(
                    "{key}: path `{path}` holds a variable whose value the repo does not define (it comes from the cluster); not followed, so what it applies is not checked"
                ),
            ),
            LoadIssue::OutsideRepo { origin, entry, target } => Finding::new(
                Severity::Error,
                codes::PATH_OUTSIDE_REPO,
                origin,
                format!(
                    "`{entry}` leads to {}, outside the repository: kustomize-controller refuses it (\"path is not in or below the source root\"); keep every reference inside the repo",
                    target.display()
                ),
            ),
            LoadIssue::ResourceCycle { origin, cycle } => Finding::new(
                Severity::Error,
                codes::KUSTOMIZE_RESOURCE_CYCLE,
                origin,
                format!(
                    "kustomize resources form a cycle: {}; kustomize fails (\"cycle detected\"): remove the entry that points back",
                    cycle.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" -> ")
                ),
            ),
            LoadIssue::ResourceSetInvalid { key, origin, message } => Finding::new(
                Severity::Error,
                codes::RESOURCESET_INVALID,
                origin,
                format!("{key}: {message}; the operator fails the same way and applies nothing of it: fix the template or its inputs"),
            ),
            LoadIssue::ResourceSetPartial { key, origin, message } => {
                Finding::new(Severity::Info, codes::RESOURCESET_PARTIAL, origin, format!("{key}: {message}"))
            }
            LoadIssue::RemoteResource { origin, entry } => Finding::new(
                Severity::Info,
                codes::KUSTOMIZE_REMOTE_RESOURCE,
                origin,
                format!(
                    "kustomize fetches `{entry}` from the network when it builds this directory (kustomize-controller does too); what it holds is not checked here, and `render --offline` refuses it: vendor it into the repo to check it"
                ),
            ),
            LoadIssue::Duplicate { key, origin, first } => Finding::new(
                Severity::Error,
                codes::DUPLICATE_OBJECT,
                origin,
                format!(
                    "{key} is also defined at {}:{}; whichever Kustomization applies last wins and the other fails or flaps: keep one definition",
                    first.file.display(),
                    first.line
                ),
            ),
        };
        out.push(f);
    }
}
