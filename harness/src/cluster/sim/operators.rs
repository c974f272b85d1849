//! Operators sim runs for real, started from what the cluster declares: when a Deployment of a
//! known operator appears (applied by helm-controller from the repository's chart, or by
//! kustomize-controller), its process starts on the host with that Deployment's args and env,
//! recorded with the cluster's processes. Today: cert-manager's controller (through the
//! launcher, [`super::cert_manager`]). kwok keeps running the Deployment's pods as it does for
//! every workload, so the Deployment becomes Available as on a real cluster.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};

use super::*;

/// Start every known operator whose Deployment the cluster declares and that does not run yet;
/// returns what was started and what sim does differently (for the user).
pub async fn start_declared(name: &str, client: &kube::Client) -> Result<Vec<String>, SimError> {
    let Some(record) = SimRecord::load(name) else { return Ok(Vec::new()) };
    if record.processes.iter().any(|p| p.name == cert_manager::PROCESS) {
        return Ok(Vec::new());
    }
    let deployments: Api<Deployment> = Api::all(client.clone());
    let list = deployments
        .list(&ListParams::default())
        .await
        .map_err(|source| SimError::Kube { what: "listing Deployments for the operators sim runs".into(), source })?;
    let Some(d) = list.items.iter().find(|d| runs_container(d, cert_manager::CONTAINER)) else { return Ok(Vec::new()) };
    let tools = Toolset::locate()?;
    let layout = layout(name);
    let ports = cert_manager::Ports {
        metrics: process::free_port().map_err(|source| SimError::Io { path: PathBuf::from("127.0.0.1:0"), source })?,
        healthz: process::free_port().map_err(|source| SimError::Io { path: PathBuf::from("127.0.0.1:0"), source })?,
    };
    let what =
        format!("Deployment {}/{}", d.metadata.namespace.as_deref().unwrap_or_default(), d.metadata.name.as_deref().unwrap_or_default());
    let launch = cert_manager::from_deployment(&tools, &layout, d, ports)
        .map_err(|e| SimError::Operator { what: what.clone(), message: e.to_string() })?;
    cert_manager::write_volumes(client, &launch.volumes)
        .await
        .map_err(|e| SimError::Operator { what: what.clone(), message: e.to_string() })?;
    // Load again: the record may have changed while the API answered.
    let mut record = SimRecord::load(name).unwrap_or(record);
    let spec = launch.spec.env(process::OWNER_ENV, record.owner.clone());
    let started = process::spawn(&spec, &layout.log(cert_manager::PROCESS))?;
    record.processes.push(started);
    record.save()?;
    let mut out = vec![format!(
        "sim: cert-manager's controllers run on the host from {what} (its args and env; log: logs/{}.log)",
        cert_manager::PROCESS
    )];
    out.extend(launch.warnings.into_iter().map(|w| format!("sim: {w}")));
    Ok(out)
}

/// Whether a Deployment's pod template has a container of that name.
fn runs_container(d: &Deployment, container: &str) -> bool {
    d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).is_some_and(|p| p.containers.iter().any(|c| c.name == container))
}
