//! Several builds at once: one worker per core, each with its own [`Workspace`] reused for every
//! build it takes; results are handed back in the order of the targets, as soon as each one and
//! everything before it is done (so a caller prints in plan order while later builds run).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use super::{RenderError, RenderOptions, Rendered, Workspace, interrupted};
use crate::repo::{FluxKustomization, HelmRelease, ObjectRef, Repo};

/// Something to render.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A Flux Kustomization (`kubectl kustomize`).
    Kustomization(&'a FluxKustomization),
    /// A HelmRelease whose chart is reachable offline (`helm template`).
    HelmRelease(&'a HelmRelease),
}

impl Target<'_> {
    /// The object rendered.
    pub fn key(&self) -> &ObjectRef {
        match self {
            Target::Kustomization(k) => &k.key,
            Target::HelmRelease(h) => &h.key,
        }
    }
}

fn build(repo: &Repo, t: &Target<'_>, opts: &RenderOptions, ws: &Workspace) -> Result<Rendered, RenderError> {
    match t {
        Target::Kustomization(k) => super::render_kustomization_in(repo, k, opts, ws),
        Target::HelmRelease(h) => super::render_helm_release(repo, h, opts, ws),
    }
}

/// Render every target with `opts.jobs` workers (0: one per core); `on_done(index, result)` is
/// called in target order. After an interrupt the remaining targets are reported interrupted.
pub fn render_all<F>(repo: &Repo, targets: &[Target<'_>], opts: &RenderOptions, mut on_done: F)
where
    F: FnMut(usize, Result<Rendered, RenderError>),
{
    let jobs = match opts.jobs {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    }
    .clamp(1, targets.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Result<Rendered, RenderError>)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                let ws = Workspace::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(t) = targets.get(i) else { break };
                    let r = if interrupted() {
                        Err(RenderError::Interrupted(t.key().to_string()))
                    } else {
                        match &ws {
                            Ok(ws) => build(repo, t, opts, ws),
                            Err(e) => Err(RenderError::Io {
                                what: t.key().to_string(),
                                path: std::env::temp_dir(),
                                source: std::io::Error::other(e.to_string()),
                            }),
                        }
                    };
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, Result<Rendered, RenderError>> = BTreeMap::new();
        let mut want = 0usize;
        for (i, r) in rx {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&want) {
                on_done(want, r);
                want += 1;
            }
        }
    });
}
