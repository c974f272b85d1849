//! Observing a Flagger `Canary` together with its routing object and primary Deployment, as a
//! timeline of (time, phase, canaryWeight, failedChecks, iterations, routed weights), and
//! asserting on it.
//!
//! The same [`TimelineBuilder`] is fed by live kube watchers ([`live`]) or by recorded JSON lines
//! ([`replay`]); assertions ([`assert`]) only look at the timeline. Routing objects by provider:
//! `linkerd`/`smi` → SMI TrafficSplit named after the apex service; `gatewayapi:<v>` → Gateway
//! API HTTPRoute of that name; `nginx` → the `<ingressRef>-canary` Ingress and its canary
//! annotations.

pub mod assert;
pub mod live;
pub mod replay;

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::flagger::quantity;

/// Errors observing a canary.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    /// Our own deadline passed before the rollout finished.
    #[error(
        "canary {canary}: no terminal phase (Succeeded/Failed) of a new rollout within our deadline of {waited_s}s (Flagger's progressDeadlineSeconds is not relied on); last state: {last}\ntimeline:\n{timeline}"
    )]
    Timeout {
        /// `ns/name`.
        canary: String,
        /// How long we waited (seconds).
        waited_s: u64,
        /// The last row, rendered.
        last: String,
        /// The whole timeline, rendered as a table.
        timeline: String,
    },
    /// The recording (or watch) ended before the rollout finished.
    #[error(
        "canary {canary}: the observation ended before a new rollout reached Succeeded/Failed; last state: {last}\ntimeline:\n{timeline}"
    )]
    Incomplete {
        /// `ns/name`.
        canary: String,
        /// The last row, rendered.
        last: String,
        /// The timeline table.
        timeline: String,
    },
    /// A recorded file could not be read or has a bad line.
    #[error("{file}:{line}: {message}")]
    Recording {
        /// File.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An object does not have the shape the observer needs.
    #[error("{0}")]
    Shape(String),
    /// Talking to the cluster failed.
    #[error("canary {canary}: {action}: {source}")]
    Kube {
        /// `ns/name`.
        canary: String,
        /// What we were doing.
        action: String,
        /// The error.
        source: kube::Error,
    },
    /// A watch stream failed.
    #[error("canary {canary}: watching {what} failed: {message}; is the CRD installed and the cluster reachable?")]
    Watch {
        /// `ns/name`.
        canary: String,
        /// Which object.
        what: String,
        /// Error text.
        message: String,
    },
}

/// Flagger canary phases (`status.phase`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `""` or absent.
    None,
    /// `Initializing`.
    Initializing,
    /// `Initialized`.
    Initialized,
    /// `Waiting`.
    Waiting,
    /// `Progressing`.
    Progressing,
    /// `WaitingPromotion`.
    WaitingPromotion,
    /// `Promoting`.
    Promoting,
    /// `Finalising`.
    Finalising,
    /// `Succeeded`.
    Succeeded,
    /// `Failed`.
    Failed,
    /// `Terminating`.
    Terminating,
    /// `Terminated`.
    Terminated,
    /// Anything else (a newer Flagger).
    Other(String),
}

impl Phase {
    /// Parse `status.phase`.
    pub fn parse(s: &str) -> Phase {
        match s {
            "" => Phase::None,
            "Initializing" => Phase::Initializing,
            "Initialized" => Phase::Initialized,
            "Waiting" => Phase::Waiting,
            "Progressing" => Phase::Progressing,
            "WaitingPromotion" => Phase::WaitingPromotion,
            "Promoting" => Phase::Promoting,
            "Finalising" => Phase::Finalising,
            "Succeeded" => Phase::Succeeded,
            "Failed" => Phase::Failed,
            "Terminating" => Phase::Terminating,
            "Terminated" => Phase::Terminated,
            other => Phase::Other(other.to_string()),
        }
    }

    /// A rollout is under way (Flagger is analysing or promoting).
    pub fn is_active(&self) -> bool {
        matches!(self, Phase::Waiting | Phase::Progressing | Phase::WaitingPromotion | Phase::Promoting | Phase::Finalising)
    }

    /// The rollout ended.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Phase::None => "-",
            Phase::Initializing => "Initializing",
            Phase::Initialized => "Initialized",
            Phase::Waiting => "Waiting",
            Phase::Progressing => "Progressing",
            Phase::WaitingPromotion => "WaitingPromotion",
            Phase::Promoting => "Promoting",
            Phase::Finalising => "Finalising",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Terminating => "Terminating",
            Phase::Terminated => "Terminated",
            Phase::Other(s) => s,
        };
        f.write_str(s)
    }
}

/// Which routing object a canary's provider uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingKind {
    /// SMI TrafficSplit (`split.smi-spec.io`), linkerd/smi providers.
    Smi,
    /// Gateway API HTTPRoute; the version from `gatewayapi:<version>` (None: server's preferred).
    GatewayApi {
        /// `v1`, `v1beta1`.
        version: Option<String>,
    },
    /// NGINX ingress canary annotations on `<ingress>-canary`.
    Nginx {
        /// `spec.ingressRef.name`.
        ingress: String,
    },
    /// A provider this observer does not read routing for.
    Unsupported(String),
}

impl fmt::Display for RoutingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoutingKind::Smi => f.write_str("TrafficSplit"),
            RoutingKind::GatewayApi { version: Some(v) } => write!(f, "HTTPRoute ({v})"),
            RoutingKind::GatewayApi { version: None } => f.write_str("HTTPRoute"),
            RoutingKind::Nginx { ingress } => write!(f, "Ingress {ingress}-canary"),
            RoutingKind::Unsupported(p) => write!(f, "unsupported provider {p}"),
        }
    }
}

/// The routing kind for a canary; `default_provider` is Flagger's `meshProvider` (used when the
/// canary has no `spec.provider`).
pub fn routing_for(canary: &Value, default_provider: &str) -> RoutingKind {
    let provider = canary.pointer("/spec/provider").and_then(Value::as_str).unwrap_or(default_provider);
    match provider {
        "linkerd" | "smi" | "smi:v1alpha1" | "smi:v1alpha2" | "smi:v1alpha3" => RoutingKind::Smi,
        p if p == "gatewayapi" || p.starts_with("gatewayapi:") => {
            RoutingKind::GatewayApi { version: p.split_once(':').map(|(_, v)| v.to_string()) }
        }
        "nginx" => {
            RoutingKind::Nginx { ingress: canary.pointer("/spec/ingressRef/name").and_then(Value::as_str).unwrap_or_default().to_string() }
        }
        other => RoutingKind::Unsupported(other.to_string()),
    }
}

/// Where traffic goes according to the routing object.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// Percent of (unmatched) traffic to `<name>-primary`.
    pub primary: f64,
    /// Percent of (unmatched) traffic to `<name>-canary`.
    pub canary: f64,
    /// A/B: requests matching this header (`name=value`) go to the canary.
    pub header_match: Option<String>,
}

impl fmt::Display for Routed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", fmt_num(self.primary), fmt_num(self.canary))?;
        if let Some(h) = &self.header_match {
            write!(f, " +{h}→canary")?;
        }
        Ok(())
    }
}

fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 { format!("{}", v.round() as i64) } else { format!("{v:.1}") }
}

/// The primary Deployment's pod spec essentials.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrimarySpec {
    /// Image of the main container.
    pub image: Option<String>,
    /// Env of the main container (literal values only).
    pub env: Vec<(String, String)>,
}

/// Which object changed to produce a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The Canary.
    Canary,
    /// The routing object.
    Routing,
    /// The primary Deployment.
    Primary,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Canary => "canary",
            Trigger::Routing => "routing",
            Trigger::Primary => "primary",
        })
    }
}

/// One state of the canary + routing + primary.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// When it was observed (live: watch time; replay: the object's last write from managedFields).
    pub at: DateTime<Utc>,
    /// What changed.
    pub trigger: Trigger,
    /// `status.phase`.
    pub phase: Phase,
    /// `status.canaryWeight`.
    pub canary_weight: f64,
    /// `status.failedChecks`.
    pub failed_checks: u32,
    /// `status.iterations`.
    pub iterations: u32,
    /// Weights from the routing object (None until seen).
    pub routed: Option<Routed>,
    /// Primary Deployment (None until seen).
    pub primary: Option<PrimarySpec>,
}

impl Row {
    /// Same state, ignoring time and trigger.
    fn same_state(&self, other: &Row) -> bool {
        self.phase == other.phase
            && self.canary_weight == other.canary_weight
            && self.failed_checks == other.failed_checks
            && self.iterations == other.iterations
            && self.routed == other.routed
            && self.primary == other.primary
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "phase={} canaryWeight={} failedChecks={} iterations={} routed(primary/canary)={} primaryImage={}",
            self.phase,
            fmt_num(self.canary_weight),
            self.failed_checks,
            self.iterations,
            self.routed.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            self.primary.as_ref().and_then(|p| p.image.clone()).unwrap_or_else(|| "-".into()),
        )
    }
}

/// The observed history of one canary.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// `ns/name` of the Canary.
    pub canary: String,
    /// Routing object kind.
    pub routing: RoutingKind,
    /// States in order (consecutive duplicates dropped).
    pub rows: Vec<Row>,
}

impl Timeline {
    /// The last row.
    pub fn last(&self) -> Option<&Row> {
        self.rows.last()
    }

    /// Rows from the first one where a new rollout is active (Progressing etc.) onwards.
    pub fn rollout(&self) -> &[Row] {
        match self.rows.iter().position(|r| r.phase.is_active()) {
            Some(i) => &self.rows[i..],
            None => &[],
        }
    }

    /// True when a rollout started and reached Succeeded/Failed.
    pub fn finished(&self) -> bool {
        let r = self.rollout();
        r.iter().any(|row| row.phase.is_terminal())
    }

    /// Render as an aligned text table (t+seconds from the first row).
    pub fn table(&self) -> String {
        let t0 = self.rows.first().map(|r| r.at);
        let mut lines = vec![[
            "t".to_string(),
            "by".to_string(),
            "phase".to_string(),
            "weight".to_string(),
            "failed".to_string(),
            "iter".to_string(),
            "routed p/c".to_string(),
            "primary image".to_string(),
        ]];
        for r in &self.rows {
            let dt = t0.map(|t| (r.at - t).num_seconds()).unwrap_or(0);
            lines.push([
                format!("+{dt}s"),
                r.trigger.to_string(),
                r.phase.to_string(),
                fmt_num(r.canary_weight),
                r.failed_checks.to_string(),
                r.iterations.to_string(),
                r.routed.as_ref().map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
                r.primary.as_ref().and_then(|p| p.image.clone()).unwrap_or_else(|| "-".into()),
            ]);
        }
        let mut widths = [0usize; 8];
        for l in &lines {
            for (i, c) in l.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = format!("canary {} (routing: {})\n", self.canary, self.routing);
        for l in &lines {
            let cells: Vec<String> = l.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
            out.push_str("  ");
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// Builds a [`Timeline`] from object snapshots (Canary, routing object, primary Deployment) in
/// the order they were seen.
#[derive(Debug, Clone)]
pub struct TimelineBuilder {
    namespace: String,
    name: String,
    default_provider: String,
    routing: Option<RoutingKind>,
    apex: String,
    target: String,
    canary_state: Option<(Phase, f64, u32, u32)>,
    routed: Option<Routed>,
    primary: Option<PrimarySpec>,
    last_at: Option<DateTime<Utc>>,
    rows: Vec<Row>,
    /// The canary's `spec.analysis` match header (A/B), once seen.
    ab_header: Option<String>,
}

/// What an object is, relative to the observed canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The Canary itself.
    Canary,
    /// Its routing object.
    Routing,
    /// `<target>-primary` Deployment.
    Primary,
    /// Not related.
    Unrelated,
}

impl TimelineBuilder {
    /// Observe canary `namespace/name`; `default_provider` is Flagger's `meshProvider`.
    pub fn new(namespace: &str, name: &str, default_provider: &str) -> TimelineBuilder {
        TimelineBuilder {
            namespace: namespace.to_string(),
            name: name.to_string(),
            default_provider: default_provider.to_string(),
            routing: None,
            apex: name.to_string(),
            target: name.to_string(),
            canary_state: None,
            routed: None,
            primary: None,
            last_at: None,
            rows: Vec::new(),
            ab_header: None,
        }
    }

    /// `ns/name` of the canary.
    pub fn canary_key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The routing kind, once the Canary was seen.
    pub fn routing(&self) -> Option<&RoutingKind> {
        self.routing.as_ref()
    }

    /// Classify an object.
    pub fn role(&self, obj: &Value) -> Role {
        let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let group = api.split_once('/').map(|(g, _)| g).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(&self.namespace);
        if ns != self.namespace {
            return Role::Unrelated;
        }
        match (group, kind) {
            ("flagger.app", "Canary") if name == self.name => Role::Canary,
            ("split.smi-spec.io", "TrafficSplit") if name == self.apex && self.routing_is(|r| matches!(r, RoutingKind::Smi)) => {
                Role::Routing
            }
            ("gateway.networking.k8s.io", "HTTPRoute")
                if name == self.apex && self.routing_is(|r| matches!(r, RoutingKind::GatewayApi { .. })) =>
            {
                Role::Routing
            }
            ("networking.k8s.io", "Ingress")
                if self.routing_is(|r| matches!(r, RoutingKind::Nginx { ingress } if name == format!("{ingress}-canary"))) =>
            {
                Role::Routing
            }
            ("apps", "Deployment") if name == format!("{}-primary", self.target) => Role::Primary,
            _ => Role::Unrelated,
        }
    }

    fn routing_is(&self, f: impl Fn(&RoutingKind) -> bool) -> bool {
        // Before the Canary is seen, accept any routing kind named after the canary.
        self.routing.as_ref().map(f).unwrap_or(true)
    }

    /// Feed one object snapshot; `seen_at` is the watch time (None in replays: the object's own
    /// last-write time is used).
    /// Returns the role it played (Unrelated objects are ignored).
    pub fn observe(&mut self, obj: &Value, seen_at: Option<DateTime<Utc>>) -> Result<Role, CanaryError> {
        let role = self.role(obj);
        // Live: when we saw it; replay: when the API server recorded the write. Never earlier
        // than the previous row, so the timeline stays ordered.
        let at = seen_at.or_else(|| object_time(obj)).or(self.last_at).unwrap_or_else(Utc::now);
        let at = self.last_at.map(|l| l.max(at)).unwrap_or(at);
        match role {
            Role::Unrelated => return Ok(role),
            Role::Canary => {
                self.routing = Some(routing_for(obj, &self.default_provider));
                if let Some(t) = obj.pointer("/spec/targetRef/name").and_then(Value::as_str) {
                    self.target = t.to_string();
                }
                self.apex =
                    obj.pointer("/spec/service/name").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| self.target.clone());
                self.ab_header = ab_header(obj);
                let st = obj.get("status");
                let num = |k: &str| st.and_then(|s| s.get(k)).and_then(Value::as_f64).unwrap_or(0.0);
                let phase = Phase::parse(st.and_then(|s| s.get("phase")).and_then(Value::as_str).unwrap_or(""));
                self.canary_state = Some((phase, num("canaryWeight"), num("failedChecks") as u32, num("iterations") as u32));
            }
            Role::Routing => {
                self.routed = Some(self.read_routing(obj)?);
            }
            Role::Primary => {
                self.primary = Some(primary_spec(obj, &self.target));
            }
        }
        self.last_at = Some(at);
        let (phase, canary_weight, failed_checks, iterations) = self.canary_state.clone().unwrap_or((Phase::None, 0.0, 0, 0));
        let row = Row {
            at,
            trigger: match role {
                Role::Canary => Trigger::Canary,
                Role::Routing => Trigger::Routing,
                _ => Trigger::Primary,
            },
            phase,
            canary_weight,
            failed_checks,
            iterations,
            routed: self.routed.clone(),
            primary: self.primary.clone(),
        };
        if self.rows.last().map(|l| !l.same_state(&row)).unwrap_or(true) {
            self.rows.push(row);
        }
        Ok(role)
    }

    fn read_routing(&self, obj: &Value) -> Result<Routed, CanaryError> {
        // Flagger names the backends after the apex service (`spec.service.name`, else the target).
        read_routing(obj, &self.apex)
    }

    /// A timeout error carrying the last state and the timeline.
    pub fn timeout(&self, waited_s: u64, note: Option<&str>) -> CanaryError {
        let t = self.timeline();
        let mut last = t.last().map(|r| r.to_string()).unwrap_or_else(|| "nothing observed".into());
        if let Some(n) = note {
            last.push_str(&format!(" ({n})"));
        }
        CanaryError::Timeout { canary: self.canary_key(), waited_s, last, timeline: t.table() }
    }

    /// An "ended too early" error carrying the last state and the timeline.
    pub fn incomplete(&self) -> CanaryError {
        let t = self.timeline();
        CanaryError::Incomplete {
            canary: self.canary_key(),
            last: t.last().map(|r| r.to_string()).unwrap_or_else(|| "nothing observed".into()),
            timeline: t.table(),
        }
    }

    /// The timeline so far.
    pub fn timeline(&self) -> Timeline {
        Timeline {
            canary: self.canary_key(),
            routing: self.routing.clone().unwrap_or(RoutingKind::Unsupported("(canary not seen)".into())),
            rows: self.rows.clone(),
        }
    }

    /// The A/B match header of the canary (`x-faces-user=testuser`), if any.
    pub fn ab_header(&self) -> Option<&str> {
        self.ab_header.as_deref()
    }
}

/// The header match of an HTTPRoute rule (`name=value`), if the rule matches on a header.
fn rule_header_match(rule: &Value) -> Option<String> {
    rule.get("matches").and_then(Value::as_array)?.iter().find_map(|m| {
        let h = m.get("headers").and_then(Value::as_array)?.first()?;
        Some(format!("{}={}", h.get("name").and_then(Value::as_str)?, h.get("value").and_then(Value::as_str).unwrap_or("")))
    })
}

/// Where a routing object (TrafficSplit, HTTPRoute or NGINX canary Ingress) sends traffic for
/// the apex service `apex` (backends `<apex>-primary` and `<apex>-canary`). An HTTPRoute is read
/// per rule: the weights come from the default rule (the one without a header match), and a
/// header rule that sends to the canary is the A/B match (summing the rules would count an A/B
/// route's header rule as traffic).
pub fn read_routing(obj: &Value, apex: &str) -> Result<Routed, CanaryError> {
    let primary = format!("{apex}-primary");
    let canary = format!("{apex}-canary");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let (weights, header_match) = match kind {
        "TrafficSplit" => (quantity::traffic_split_weights(obj).map_err(|e| CanaryError::Shape(e.to_string()))?, None),
        "HTTPRoute" => {
            let rules = obj.pointer("/spec/rules").and_then(Value::as_array).cloned().unwrap_or_default();
            let default = rules.iter().position(|r| rule_header_match(r).is_none()).unwrap_or(0);
            let header = rules.iter().enumerate().find_map(|(i, r)| {
                let m = rule_header_match(r)?;
                let w = quantity::http_route_weights(obj, Some(i)).ok()?;
                (w.percent(&canary).unwrap_or(0.0) > 0.0).then_some(m)
            });
            (quantity::http_route_weights(obj, Some(default)).map_err(|e| CanaryError::Shape(e.to_string()))?, header)
        }
        "Ingress" => return Ok(nginx_routed(obj)),
        other => return Err(CanaryError::Shape(format!("unexpected routing kind {other}"))),
    };
    Ok(Routed { primary: weights.percent(&primary).unwrap_or(0.0), canary: weights.percent(&canary).unwrap_or(0.0), header_match })
}

const NGINX: &str = "nginx.ingress.kubernetes.io/";

/// Routed weights of an NGINX canary Ingress: `canary: "true"` enables it; `canary-weight` is
/// the share of unmatched traffic; `canary-by-header(+-value)` routes matching requests.
pub fn nginx_routed(ingress: &Value) -> Routed {
    let ann = |k: &str| ingress.pointer("/metadata/annotations").and_then(|a| a.get(format!("{NGINX}{k}"))).and_then(Value::as_str);
    let enabled = ann("canary") == Some("true");
    let weight = if enabled { ann("canary-weight").and_then(|w| quantity::parse(w).ok()).map(|q| q.value).unwrap_or(0.0) } else { 0.0 };
    let header_match = if enabled {
        ann("canary-by-header").map(|h| match ann("canary-by-header-value") {
            Some(v) => format!("{h}={v}"),
            None => format!("{h}=always"),
        })
    } else {
        None
    };
    Routed { primary: 100.0 - weight, canary: weight, header_match }
}

fn ab_header(canary: &Value) -> Option<String> {
    let matches = canary.pointer("/spec/analysis/match").and_then(Value::as_array)?;
    for m in matches {
        if let Some(h) = m.get("headers").and_then(Value::as_object) {
            for (k, v) in h {
                if let Some(exact) = v.get("exact").and_then(Value::as_str) {
                    return Some(format!("{k}={exact}"));
                }
            }
        }
    }
    None
}

/// Image and literal env of the primary's main container (named like the target, else first).
pub fn primary_spec(deploy: &Value, target: &str) -> PrimarySpec {
    let containers = deploy.pointer("/spec/template/spec/containers").and_then(Value::as_array);
    let Some(containers) = containers else { return PrimarySpec::default() };
    let c = containers.iter().find(|c| c.get("name").and_then(Value::as_str) == Some(target)).or_else(|| containers.first());
    let Some(c) = c else { return PrimarySpec::default() };
    PrimarySpec {
        image: c.get("image").and_then(Value::as_str).map(str::to_string),
        env: c
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e.get("name")?.as_str()?.to_string(), e.get("value")?.as_str()?.to_string())))
            .collect(),
    }
}

/// When the object was last written: the newest `metadata.managedFields[].time` (the API server
/// records it on every update), else the canary's `status.lastTransitionTime`.
pub fn object_time(obj: &Value) -> Option<DateTime<Utc>> {
    let mf = obj.pointer("/metadata/managedFields").and_then(Value::as_array);
    let newest = mf
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("time").and_then(Value::as_str))
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max();
    newest.or_else(|| {
        obj.pointer("/status/lastTransitionTime")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    })
}

#[cfg(test)]
mod routing_tests {
    use super::*;
    use serde_json::json;

    /// An A/B HTTPRoute as Flagger writes it: a header rule to the canary, a default rule to the
    /// primary. The weights are the default rule's, not the sum of both.
    #[test]
    fn http_route_is_read_per_rule() {
        let route = json!({"kind": "HTTPRoute", "metadata": {"name": "web", "namespace": "t"}, "spec": {"rules": [
            {"matches": [{"headers": [{"name": "x-user", "value": "test"}]}],
             "backendRefs": [{"name": "web-primary", "weight": 0}, {"name": "web-canary", "weight": 100}]},
            {"backendRefs": [{"name": "web-primary", "weight": 100}, {"name": "web-canary", "weight": 0}]}]}});
        let r = read_routing(&route, "web").unwrap();
        assert_eq!((r.primary, r.canary), (100.0, 0.0));
        assert_eq!(r.header_match.as_deref(), Some("x-user=test"));
    }

    /// The backends are named after `spec.service.name` when it differs from the target.
    #[test]
    fn apex_comes_from_the_service_name() {
        let canary = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "podinfo", "namespace": "t"},
            "spec": {"provider": "linkerd", "targetRef": {"name": "podinfo"}, "service": {"name": "frontend", "port": 80}}});
        let ts = json!({"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit", "metadata": {"name": "frontend", "namespace": "t"},
            "spec": {"service": "frontend", "backends": [{"service": "frontend-primary", "weight": "90"}, {"service": "frontend-canary", "weight": "10"}]}});
        let mut b = TimelineBuilder::new("t", "podinfo", "linkerd");
        b.observe(&canary, None).unwrap();
        assert_eq!(b.observe(&ts, None).unwrap(), Role::Routing);
        let row = b.timeline().last().cloned().unwrap();
        let routed = row.routed.unwrap();
        assert_eq!((routed.primary, routed.canary), (90.0, 10.0));
    }
}
