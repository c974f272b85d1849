//! Operators sim runs for real, started from what the cluster declares: when a Deployment of a
//! known operator appears (applied by helm-controller from the repository's chart, or by
//! kustomize-controller), its process starts on the host with that Deployment's args and env,
//! recorded with the cluster's processes, and restarted when that Deployment's pod template
//! changes. Today: cert-manager's controller (through the launcher, [`super::cert_manager`])
//! and Flagger ([`super::flagger::from_deployment`]). kwok
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

/// Start every known operator whose Deployment the cluster declares and that does not run yet,
/// and restart one whose Deployment's pod template changed since (a chart upgrade), as its pod
/// would be replaced; returns what was done and what sim does differently (for the user).
pub async fn start_declared(name: &str, client: &kube::Client) -> Result<Vec<String>, SimError> {
    let Some(record) = SimRecord::load(name) else { return Ok(Vec::new()) };
    let deployments: Api<Deployment> = Api::all(client.clone());
    let list = deployments
        .list(&ListParams::default())
        .await
        .map_err(|source| SimError::Kube { what: "listing Deployments for the operators sim runs".into(), source })?;
    let cert_manager = list.items.iter().find(|d| runs_container(d, cert_manager::CONTAINER));
    let flagger = list.items.iter().find(|d| flagger::container_of(d).is_some());
    let mut to_start = Vec::new();
    for (process, d) in [(cert_manager::PROCESS, cert_manager), (flagger::PROCESS, flagger)] {
        let Some(d) = d else { continue };
        let running = record.processes.iter().any(|r| r.name == process);
        match record.operators.get(process) {
            // Started from this Deployment as it is now.
            Some(fp) if running && *fp == fingerprint(d) => {}
            // Running, not from a Deployment (Flagger with the chart's defaults): left alone.
            None if running => {}
            _ => to_start.push((process, d, running)),
        }
    }
    if to_start.is_empty() {
        return Ok(Vec::new());
    }
    let tools = Toolset::locate()?;
    let layout = layout(name);
    let mut out = Vec::new();
    for (process, d, running) in to_start {
        if running {
            stop_recorded(name, process)?;
            out.push(format!("sim: {} changed: {process} restarted from it, as its pod is replaced", id(d)));
        }
        if process == cert_manager::PROCESS {
            out.extend(start_cert_manager(name, client, &tools, &layout, d).await?);
        } else {
            out.extend(start_flagger(name, &tools, &layout, d)?);
        }
    }
    Ok(out)
}

/// What an operator's process is made from: the Deployment's identity and its pod template, so
/// a change that replaces its pod on a real cluster (a chart upgrade: labels, images, args, env)
/// restarts it here too.
fn fingerprint(d: &Deployment) -> String {
    let template = d.spec.as_ref().map(|s| serde_json::to_value(&s.template).unwrap_or_default()).unwrap_or_default();
    crate::sources::cassette::sha256(serde_json::json!([id(d), template]).to_string().as_bytes())
}

/// Take a running operator out of the record (saved first: the liveness watch must not take its
/// stop for a crash), then stop it by its recorded pid.
fn stop_recorded(name: &str, process: &str) -> Result<(), SimError> {
    let Some(mut record) = SimRecord::load(name) else { return Ok(()) };
    let (gone, kept): (Vec<ProcessRecord>, Vec<ProcessRecord>) = record.processes.into_iter().partition(|p| p.name == process);
    record.processes = kept;
    record.operators.remove(process);
    record.save()?;
    for p in gone {
        p.stop(STOP_GRACE);
    }
    Ok(())
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
    let fp = fingerprint(d);
    spawn_recorded(name, layout, launch.spec, |r| {
        r.operators.insert(cert_manager::PROCESS.to_string(), fp);
    })?;
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
    let fp = fingerprint(d);
    spawn_recorded(name, layout, spec, move |r| {
        r.ports.flagger = port;
        r.flagger = Some(settings);
        r.operators.insert(flagger::PROCESS.to_string(), fp);
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
