//! A/B check through the ingress: N requests with the match header (`x-faces-user: testuser`)
//! and N without, each response attributed to the primary or the canary by [`Identify`], counts
//! reported, and [`assert_header_routing`]: header → canary, no header → primary.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use http::HeaderMap;

/// Errors running the A/B check.
#[derive(Debug, thiserror::Error)]
pub enum AbError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// Bad request parameters.
    #[error("invalid A/B request: {0}")]
    Invalid(String),
}

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Responder {
    /// The primary (stable) version.
    Primary,
    /// The canary (new) version.
    Canary,
    /// Could not tell.
    Unknown,
}

/// A marker that identifies a version in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// A response header whose value contains the text (case-insensitive header name).
    Header {
        /// Header name.
        name: String,
        /// Text the value contains.
        contains: String,
    },
    /// The body contains the text.
    Body(String),
}

impl Marker {
    fn matches(&self, headers: &HeaderMap, body: &str) -> bool {
        match self {
            Marker::Header { name, contains } => {
                headers.get_all(name.as_str()).iter().any(|v| v.to_str().map(|s| s.contains(contains.as_str())).unwrap_or(false))
            }
            Marker::Body(text) => body.contains(text.as_str()),
        }
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Marker::Header { name, contains } => write!(f, "header {name} containing {contains:?}"),
            Marker::Body(t) => write!(f, "body containing {t:?}"),
        }
    }
}

/// How to tell the versions apart. For the faces-gui A/B test of the workshop the canary sets
/// `COLOR` (e.g. `lightcyan`), which the GUI page carries: `Identify::canary_by(Marker::Body(..))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identify {
    /// Marks the canary.
    pub canary: Marker,
    /// Marks the primary; `None` means "any successful response without the canary marker".
    pub primary: Option<Marker>,
}

impl Identify {
    /// Canary by a marker; everything else that succeeded is the primary.
    pub fn canary_by(marker: Marker) -> Identify {
        Identify { canary: marker, primary: None }
    }

    /// Attribute one response (2xx only; the caller counts other statuses as errors).
    pub fn identify(&self, headers: &HeaderMap, body: &str) -> Responder {
        let canary = self.canary.matches(headers, body);
        let primary = match &self.primary {
            Some(m) => m.matches(headers, body),
            None => !canary,
        };
        match (canary, primary) {
            (true, false) => Responder::Canary,
            (false, true) => Responder::Primary,
            _ => Responder::Unknown,
        }
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct AbRequest {
    /// Ingress base URL, e.g. `http://127.0.0.1:8081`.
    pub base_url: String,
    /// Host header the ingress rule matches (e.g. `faces.localhost`).
    pub host: String,
    /// Path (e.g. `/`).
    pub path: String,
    /// The A/B match header (name, value).
    pub header: (String, String),
    /// Requests per group (bounded).
    pub requests: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl AbRequest {
    /// The workshop's faces-gui A/B test: `x-faces-user: testuser`, 20 requests per group.
    pub fn faces_gui(base_url: &str, host: &str) -> AbRequest {
        AbRequest {
            base_url: base_url.trim_end_matches('/').to_string(),
            host: host.to_string(),
            path: "/".to_string(),
            header: ("x-faces-user".into(), "testuser".into()),
            requests: 20,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Responses of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Attributed to the primary.
    pub primary: usize,
    /// Attributed to the canary.
    pub canary: usize,
    /// 2xx but not attributable.
    pub unknown: usize,
    /// Non-2xx statuses by code.
    pub statuses: BTreeMap<u16, usize>,
    /// Transport errors (connection refused, timeout...), first message kept.
    pub transport_errors: usize,
    /// First transport error message.
    pub first_error: Option<String>,
}

impl Counts {
    /// All requests of the group.
    pub fn total(&self) -> usize {
        self.primary + self.canary + self.unknown + self.statuses.values().sum::<usize>() + self.transport_errors
    }

    /// Record one response.
    pub fn record(&mut self, r: Responder) {
        match r {
            Responder::Primary => self.primary += 1,
            Responder::Canary => self.canary += 1,
            Responder::Unknown => self.unknown += 1,
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "primary {}, canary {}, unknown {}", self.primary, self.canary, self.unknown)?;
        if !self.statuses.is_empty() {
            let s: Vec<String> = self.statuses.iter().map(|(k, v)| format!("{k}×{v}")).collect();
            write!(f, ", HTTP errors {}", s.join(" "))?;
        }
        if self.transport_errors > 0 {
            write!(f, ", transport errors {} ({})", self.transport_errors, self.first_error.as_deref().unwrap_or(""))?;
        }
        write!(f, " (of {})", self.total())
    }
}

/// Counts with and without the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbCounts {
    /// The match header, `name: value`.
    pub header: String,
    /// Requests carrying the header.
    pub with_header: Counts,
    /// Requests without it.
    pub without_header: Counts,
}

impl fmt::Display for AbCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "with `{}`:    {}", self.header, self.with_header)?;
        write!(f, "without the header: {}", self.without_header)
    }
}

/// Send the bounded request groups and count who answered.
pub async fn run(req: &AbRequest, identify: &Identify) -> Result<AbCounts, AbError> {
    if req.requests == 0 {
        return Err(AbError::Invalid("requests must be > 0".into()));
    }
    crate::live::ensure_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(req.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| AbError::Client(e.to_string()))?;
    let url = format!("{}{}", req.base_url.trim_end_matches('/'), req.path);
    let mut out = AbCounts { header: format!("{}: {}", req.header.0, req.header.1), ..Default::default() };
    for with in [true, false] {
        let counts = if with { &mut out.with_header } else { &mut out.without_header };
        for _ in 0..req.requests {
            let mut rb = client.get(&url).header(http::header::HOST, &req.host);
            if with {
                rb = rb.header(req.header.0.as_str(), req.header.1.as_str());
            }
            match rb.send().await {
                Err(e) => {
                    counts.transport_errors += 1;
                    counts.first_error.get_or_insert_with(|| e.to_string());
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        counts.record(identify.identify(&headers, &body));
                    } else {
                        *counts.statuses.entry(status.as_u16()).or_default() += 1;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A failed A/B assertion: expected vs seen counts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("A/B routing: {problem}\n  expected: {expected}\n  seen:\n    {seen}")]
pub struct AbAssertionFailure {
    /// What is wrong.
    pub problem: String,
    /// Expected.
    pub expected: String,
    /// Counts.
    pub seen: String,
}

/// Every request with the header reached the canary and every request without it the primary.
pub fn assert_header_routing(c: &AbCounts) -> Result<(), AbAssertionFailure> {
    let seen = c.to_string().replace('\n', "\n    ");
    let fail = |problem: &str| AbAssertionFailure {
        problem: problem.to_string(),
        expected: format!("all requests with `{}` → canary, all without → primary", c.header),
        seen: seen.clone(),
    };
    let w = &c.with_header;
    let wo = &c.without_header;
    if w.total() == 0 || wo.total() == 0 {
        return Err(fail("no requests were sent"));
    }
    if w.canary != w.total() {
        return Err(fail(if w.transport_errors + w.statuses.values().sum::<usize>() > 0 {
            "requests with the header failed (is the ingress reachable and the Host right?)"
        } else {
            "requests with the header did not all reach the canary"
        }));
    }
    if wo.primary != wo.total() {
        return Err(fail(if wo.canary > 0 {
            "requests without the header reached the canary"
        } else {
            "requests without the header did not all reach the primary"
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn identify_by_body_or_header() {
        let id = Identify::canary_by(Marker::Body("lightcyan".into()));
        let h = HeaderMap::new();
        assert_eq!(id.identify(&h, "<body style=\"background: lightcyan\">"), Responder::Canary);
        assert_eq!(id.identify(&h, "<body style=\"background: white\">"), Responder::Primary);
        let id = Identify {
            canary: Marker::Header { name: "x-version".into(), contains: "canary".into() },
            primary: Some(Marker::Header { name: "x-version".into(), contains: "primary".into() }),
        };
        let mut h = HeaderMap::new();
        h.insert("X-Version", HeaderValue::from_static("faces-gui-primary-7d9f"));
        assert_eq!(id.identify(&h, ""), Responder::Primary);
        assert_eq!(id.identify(&HeaderMap::new(), ""), Responder::Unknown);
    }
}
