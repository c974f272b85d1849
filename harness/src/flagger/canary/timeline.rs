//! The timeline of a canary: rows of (time, phase, weights, checks, routed traffic, primary),
//! built from object updates in any order by [`TimelineBuilder`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::*;

/// The primary Deployment's pod spec essentials.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrimarySpec {
    /// Image of the main container.
    pub image: Option<String>,
    /// Env of the main container (literal values only).
    pub env: Vec<(String, String)>,
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
    pub(crate) fn same_state(&self, other: &Row) -> bool {
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

    pub(crate) fn routing_is(&self, f: impl Fn(&RoutingKind) -> bool) -> bool {
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

    pub(crate) fn read_routing(&self, obj: &Value) -> Result<Routed, CanaryError> {
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
