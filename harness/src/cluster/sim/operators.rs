//! Operators sim runs for real, started from what the cluster declares: when a Deployment of a
//! known operator appears (applied by helm-controller from the repository's chart, or by
//! kustomize-controller), its process starts on the host with that Deployment's args and env,
//! recorded with the cluster's processes. Today: cert-manager's controller (through the
//! launcher, [`super::cert_manager`]) and Flagger ([`super::flagger::from_deployment`]). kwok
//! keeps running the Deployment's pods as it does for every workload, so the Deployment becomes
//! Available as on a real cluster.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};

use super::*;

fn free_port() -> Result<u16, SimError> {
    process::free_port().map_err(|source| SimError::Io { path: PathBuf::from("127.0.0.1:0"), source })
}

fn id(d: &Deployment) -> String {
    format!("Deployment {}/{}", d.metadata.namespace.as_deref().unwrap_or_default(), d.metadata.name.as_deref().unwrap_or_default())
}

/// Start every known operator whose Deployment the cluster declares and that does not run yet;
/// returns what was started and what sim does differently (for the user).
pub async fn start_declared(name: &str, client: &kube::Client) -> Result<Vec<String>, SimError> {
    let Some(record) = SimRecord::load(name) else { return Ok(Vec::new()) };
    let runs = |p: &str| record.processes.iter().any(|r| r.name == p);
    let (want_cert_manager, want_flagger) = (!runs(cert_manager::PROCESS), !runs(flagger::PROCESS));
    if !want_cert_manager && !want_flagger {
        return Ok(Vec::new());
    }
    let deployments: Api<Deployment> = Api::all(client.clone());
    let list = deployments
        .list(&ListParams::default())
        .await
        .map_err(|source| SimError::Kube { what: "listing Deployments for the operators sim runs".into(), source })?;
    let tools = Toolset::locate()?;
    let layout = layout(name);
    let mut out = Vec::new();
    if want_cert_manager && let Some(d) = list.items.iter().find(|d| runs_container(d, cert_manager::CONTAINER)) {
        out.extend(start_cert_manager(name, client, &tools, &layout, d).await?);
    }
    if want_flagger && let Some(d) = list.items.iter().find(|d| flagger::container_of(d).is_some()) {
        out.extend(start_flagger(name, &tools, &layout, d)?);
    }
    Ok(out)
}

async fn start_cert_manager(
    name: &str,
    client: &kube::Client,
    tools: &Toolset,
    layout: &Layout,
    d: &Deployment,
) -> Result<Vec<String>, SimError> {
    let ports = cert_manager::Ports { metrics: free_port()?, healthz: free_port()? };
    let what = id(d);
    let launch = cert_manager::from_deployment(tools, layout, d, ports)
        .map_err(|e| SimError::Operator { what: what.clone(), message: e.to_string() })?;
    cert_manager::write_volumes(client, &launch.volumes)
        .await
        .map_err(|e| SimError::Operator { what: what.clone(), message: e.to_string() })?;
    spawn_recorded(name, layout, launch.spec, |_| {})?;
    let mut out = vec![format!(
        "sim: cert-manager's controllers run on the host from {what} (its args and env; log: logs/{}.log)",
        cert_manager::PROCESS
    )];
    out.extend(launch.warnings.into_iter().map(|w| format!("sim: {w}")));
    Ok(out)
}

/// Flagger from its live Deployment, its HTTP clients sent through the cluster's egress gateway
/// (metrics and webhooks answered by the stand-ins), recorded with the settings it runs with.
fn start_flagger(name: &str, tools: &Toolset, layout: &Layout, d: &Deployment) -> Result<Vec<String>, SimError> {
    let Some(record) = SimRecord::load(name) else { return Ok(Vec::new()) };
    let port = free_port()?;
    let Some(launch) = flagger::from_deployment(tools, layout, d, port) else { return Ok(Vec::new()) };
    let gateway_addr = std::net::SocketAddr::from(([127, 0, 0, 1], record.ports.gateway));
    let ca_file = gateway::GatewayCa::cert_file(&layout.root.join("gateway"));
    let spec = gateway::process_env(gateway_addr, flagger::PROCESS, &ca_file).into_iter().fold(launch.spec, |s, (k, v)| s.env(&k, v));
    let settings = launch.settings.clone();
    let described = settings.describe();
    spawn_recorded(name, layout, spec, move |r| {
        r.ports.flagger = port;
        r.flagger = Some(settings);
    })?;
    let mut out = vec![format!("sim: Flagger runs on the host from its live Deployment: {described} (log: logs/{}.log)", flagger::PROCESS)];
    out.extend(launch.warnings.into_iter().map(|w| format!("sim: {w}")));
    Ok(out)
}

/// Spawn a process carrying the cluster's owner token and add it to the record (loaded again:
/// it may have changed while the API answered), with `update` applied to the record.
fn spawn_recorded(name: &str, layout: &Layout, spec: ProcessSpec, update: impl FnOnce(&mut SimRecord)) -> Result<(), SimError> {
    let Some(mut record) = SimRecord::load(name) else { return Ok(()) };
    let spec = spec.env(process::OWNER_ENV, record.owner.clone());
    let started = process::spawn(&spec, &layout.log(&spec.name))?;
    record.processes.push(started);
    update(&mut record);
    record.save()
}

/// Whether a Deployment's pod template has a container of that name.
fn runs_container(d: &Deployment, container: &str) -> bool {
    d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).is_some_and(|p| p.containers.iter().any(|c| c.name == container))
}
