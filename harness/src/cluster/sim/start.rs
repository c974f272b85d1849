//! Bringing a sim cluster up: free ports, each process started, recorded and waited for in
//! order (etcd, API server, controllers, kwok nodes, Flux, the stand-ins and Flagger).

use super::*;

fn p(path: &Path) -> String {
    path.display().to_string()
}

pub(crate) fn free_ports(api_port: Option<u16>) -> Result<Ports, SimError> {
    let mut taken = std::collections::BTreeSet::new();
    let mut next = || -> Result<u16, SimError> {
        // Bound and released one at a time: keep them distinct within this cluster.
        loop {
            let p = process::free_port().map_err(|source| SimError::Io { path: PathBuf::from("127.0.0.1:0"), source })?;
            if taken.insert(p) {
                return Ok(p);
            }
        }
    };
    let apiserver = match api_port {
        Some(p) if process::port_in_use(p) => return Err(SimError::PortTaken { port: p, what: "kube-apiserver (--api-port)".into() }),
        Some(p) => p,
        None => next()?,
    };
    Ok(Ports {
        etcd: next()?,
        etcd_peer: next()?,
        apiserver,
        source: [next()?, next()?, next()?],
        kustomize: [next()?, next()?],
        helm: [next()?, next()?],
        git: 0,
        gateway: next()?,
        flagger: next()?,
    })
}

/// A sim cluster being started: records each process as it starts, and on failure stops them
/// all and removes the state it created.
pub(crate) struct Starter {
    pub(crate) record: SimRecord,
    pub(crate) layout: Layout,
}

impl Starter {
    pub(crate) fn start(&mut self, spec: ProcessSpec) -> Result<(), SimError> {
        // The record (with the owner token) is on disk before the process exists.
        if self.record.processes.is_empty() {
            self.record.save()?;
        }
        let spec = spec.env(process::OWNER_ENV, self.record.owner.clone());
        let rec = process::spawn(&spec, &self.layout.log(&spec.name))?;
        self.record.processes.push(rec);
        self.record.save()
    }

    pub(crate) fn check_alive(&self) -> Result<(), SimError> {
        match self.record.first_dead() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Wait until `ready` answers true, failing at once if any process dies.
    pub(crate) async fn wait<F, Fut>(&self, name: &str, what: &str, within: Duration, mut ready: F) -> Result<(), SimError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + within;
        loop {
            self.check_alive()?;
            if ready().await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = self.layout.log(name);
                return Err(SimError::NotReady {
                    name: name.to_string(),
                    what: what.to_string(),
                    secs: within.as_secs(),
                    tail: process::tail(&log, 20),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(crate) fn abort(&self) {
        self.record.stop_all();
        let _ = std::fs::remove_dir_all(&self.layout.root);
    }
}

pub(crate) async fn tcp_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}

pub(crate) async fn apiserver_ready(client: &kube::Client) -> bool {
    let Ok(req) = http::Request::get("/readyz").body(Vec::new()) else { return false };
    matches!(client.request_text(req).await, Ok(body) if body.trim() == "ok")
}

/// Apply CRD files with server-side apply and wait until they are Established.
pub async fn apply_crds(client: &kube::Client, files: &[PathBuf]) -> Result<Vec<String>, SimError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|source| SimError::Io { path: f.clone(), source })?;
        let docs = crate::yaml_docs::parse_str(f, &text)
            .map_err(|e| SimError::Io { path: f.clone(), source: std::io::Error::other(e.to_string()) })?;
        for d in docs.into_iter().filter(|d| d.value.get("kind").and_then(|k| k.as_str()) == Some("CustomResourceDefinition")) {
            let name = d.value.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or_default().to_string();
            api.patch(&name, &PatchParams::apply(crate::bootstrap::FIELD_MANAGER).force(), &Patch::Apply(&d.value))
                .await
                .map_err(|source| SimError::Kube { what: format!("applying CRD {name} from {}", f.display()), source })?;
            names.push(name);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for n in &names {
        loop {
            let established = api
                .get(n)
                .await
                .ok()
                .and_then(|c| c.status)
                .and_then(|s| s.conditions)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
            if established {
                break;
            }
            if Instant::now() >= deadline {
                return Err(SimError::CrdsNotEstablished { names: n.clone() });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(names)
}

pub(crate) fn node(name: &str) -> Node {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "app.kubernetes.io/managed-by": "gitops-harness",
            },
        },
    }))
    .unwrap_or_default()
}

pub(crate) async fn nodes_ready(client: &kube::Client, count: usize) -> bool {
    let api: Api<Node> = Api::all(client.clone());
    let Ok(list) = api.list(&Default::default()).await else { return false };
    let ready = list
        .items
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count();
    ready >= count
}

impl Sim {
    pub(crate) async fn start(&self, spec: &ClusterSpec) -> Result<ClusterHandle, SimError> {
        let tools = Toolset::locate()?;
        let layout = layout(&spec.name);
        // Another program (or sim cluster) may bind a chosen port before our server does: then
        // start over with fresh ports, a few times.
        let mut attempt = 0;
        loop {
            attempt += 1;
            for dir in [layout.root.clone(), layout.logs(), layout.etcd_data(), layout.apiserver_certs(), layout.source_storage()] {
                std::fs::create_dir_all(&dir).map_err(|source| SimError::Io { path: dir.clone(), source })?;
            }
            let ports = free_ports(spec.api_port)?;
            let record = SimRecord {
                name: spec.name.clone(),
                run_id: crate::labels::run_id().to_string(),
                ports,
                processes: vec![],
                nodes: self.nodes,
                flagger: self.flagger.clone(),
                owner: SimRecord::new_owner_token(&spec.name),
                operators: Default::default(),
            };
            let mut st = Starter { record, layout: layout.clone() };
            match self.start_processes(&tools, &mut st, spec).await {
                Ok(handle) => return Ok(handle),
                Err(e) => {
                    st.abort();
                    let port_race = matches!(&e, SimError::Died { tail, .. } if tail.contains("address already in use"));
                    if !port_race || attempt >= 3 {
                        return Err(e);
                    }
                }
            }
        }
    }

    pub(crate) async fn start_processes(&self, tools: &Toolset, st: &mut Starter, spec: &ClusterSpec) -> Result<ClusterHandle, SimError> {
        let layout = st.layout.clone();
        let ports = st.record.ports.clone();
        st.record.save()?;
        let pki = pki::generate(&layout.pki())?;
        let kubeconfig = pki::kubeconfig(&spec.name, ports.apiserver, &pki.ca_pem, &pki.admin_token);
        // It carries the admin token: owner-only, like the other backends' kubeconfigs.
        crate::cluster::write_private(&layout.kubeconfig(), &kubeconfig)
            .map_err(|source| SimError::Io { path: layout.kubeconfig(), source })?;

        st.start(components::etcd(tools, &layout, &ports))?;
        st.wait("etcd", &format!("client port {}", ports.etcd), Duration::from_secs(30), || tcp_open(ports.etcd)).await?;

        st.start(components::apiserver(tools, &layout, &ports, &pki))?;
        let target = live::Target { kubeconfig: Some(layout.kubeconfig()), context: None };
        let client = live::connect(&target)
            .await
            .map_err(|e| SimError::Io { path: layout.kubeconfig(), source: std::io::Error::other(e.to_string()) })?;
        st.wait("kube-apiserver", "/readyz", Duration::from_secs(90), || apiserver_ready(&client)).await?;

        st.start(components::controller_manager(tools, &layout, &pki))?;
        st.start(components::scheduler(tools, &layout))?;
        st.start(components::kwok(tools, &layout))?;
        let nodes: Api<Node> = Api::all(client.clone());
        for i in 0..self.nodes {
            let name = format!("sim-node-{i}");
            nodes
                .create(&PostParams::default(), &node(&name))
                .await
                .map_err(|source| SimError::Kube { what: format!("creating node {name}"), source })?;
        }
        let count = self.nodes;
        st.wait("kwok", &format!("{count} node(s) Ready"), Duration::from_secs(60), || nodes_ready(&client, count)).await?;

        // Flux's CRDs before its controllers: they fail to start on kinds the API does not serve.
        // Flagger's too: it is part of the sim platform, as Flux is.
        let mut crds = Vec::new();
        for c in [Component::SourceController, Component::KustomizeController, Component::HelmController, Component::Flagger] {
            crds.extend(tools.crds(c));
        }
        apply_crds(&client, &crds).await?;
        // One egress gateway before anything that may dial out: every such process gets it as
        // its proxy (named, so its log says who asked) and trusts its CA.
        let gateway_addr = std::net::SocketAddr::from(([127, 0, 0, 1], ports.gateway));
        let ca_dir = layout.root.join("gateway");
        let mut args: Vec<String> =
            vec!["sources".into(), "gateway".into(), "--addr".into(), gateway_addr.to_string(), "--ca-dir".into(), p(&ca_dir)];
        if let Some(c) = &spec.cassette {
            // The gateway runs in the state directory: a relative path is the caller's.
            args.extend(["--cassette".into(), p(&std::path::absolute(c).unwrap_or_else(|_| c.clone()))]);
        }
        // The stand-ins read the cluster (Canaries, MetricTemplates, a live Flagger Deployment's
        // -metrics-server); Flagger's address is only passed when sim starts Flagger itself.
        args.extend(["--kubeconfig".into(), p(&layout.kubeconfig())]);
        if let Some(settings) = self.flagger.as_ref().filter(|f| !f.deployed) {
            args.extend(["--metrics-server".into(), settings.metrics_server.clone()]);
        }
        st.start(ProcessSpec::new("gateway", harness_exe()?, args, &layout.root))?;
        st.wait("gateway", &format!("port {}", ports.gateway), Duration::from_secs(20), || tcp_open(ports.gateway)).await?;
        let ca_file = gateway::GatewayCa::cert_file(&ca_dir);
        let via_gateway = |spec: ProcessSpec| {
            gateway::process_env(gateway_addr, &spec.name.clone(), &ca_file).into_iter().fold(spec, |s, (k, v)| s.env(&k, v))
        };

        st.start(via_gateway(components::source_controller(tools, &layout, &ports)))?;
        st.start(via_gateway(components::kustomize_controller(tools, &layout, &ports)))?;
        st.start(via_gateway(components::helm_controller(tools, &layout, &ports)))?;
        for (name, port) in
            [("source-controller", ports.source[1]), ("kustomize-controller", ports.kustomize[1]), ("helm-controller", ports.helm[1])]
        {
            st.wait(name, &format!("health port {port}"), Duration::from_secs(60), || tcp_open(port)).await?;
        }

        if let Some(settings) = &self.flagger {
            // The TrafficSplit CRD its Linkerd provider writes, then Flagger (its metrics and
            // webhooks go through the gateway to the stand-ins).
            let api: Api<CustomResourceDefinition> = Api::all(client.clone());
            let ts = flagger::traffic_split_crd();
            api.patch("trafficsplits.split.smi-spec.io", &PatchParams::apply(crate::bootstrap::FIELD_MANAGER).force(), &Patch::Apply(&ts))
                .await
                .map_err(|source| SimError::Kube { what: "applying the TrafficSplit CRD".into(), source })?;
            // A Flagger the repository installs starts from its live Deployment
            // (`operators`); one it does not install, with the chart's defaults, now.
            if !settings.deployed {
                st.start(via_gateway(flagger::process(tools, &layout, settings, ports.flagger)))?;
                st.wait("flagger", &format!("port {}", ports.flagger), Duration::from_secs(60), || tcp_open(ports.flagger)).await?;
            }
        }

        let handle = ClusterHandle::created_now(
            &spec.name,
            BackendKind::Sim,
            format!("https://127.0.0.1:{}", ports.apiserver),
            "127.0.0.1".into(),
            0,
        );
        crate::cluster::save_state(&handle, &kubeconfig)
            .map_err(|e| SimError::Io { path: layout.root.clone(), source: std::io::Error::other(e.to_string()) })?;
        Ok(handle)
    }
}
