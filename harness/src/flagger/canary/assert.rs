//! Assertions on a canary [`Timeline`]: failures say what was expected, what was seen, and
//! show the whole timeline as a table.

use std::fmt;

use serde_json::Value;

use super::{Phase, Row, Timeline};

/// A failed assertion: expected vs seen, plus the timeline.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct AssertionFailure {
    /// `ns/name` of the canary.
    pub canary: String,
    /// Which check failed.
    pub check: String,
    /// What should have happened.
    pub expected: String,
    /// What happened.
    pub seen: String,
    /// The timeline table.
    pub timeline: String,
}

impl fmt::Display for AssertionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "canary {}: {}\n  expected: {}\n  seen:     {}\ntimeline:\n{}",
            self.canary, self.check, self.expected, self.seen, self.timeline
        )
    }
}

/// What a successful weighted rollout must look like.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CanaryExpectation {
    /// `spec.analysis.stepWeight`.
    pub step_weight: f64,
    /// `spec.analysis.maxWeight`.
    pub max_weight: f64,
    /// Image the primary must run afterwards (None: not checked).
    pub new_image: Option<String>,
    /// Env var (name, value) the primary must carry afterwards (None: not checked).
    pub new_env: Option<(String, String)>,
}

impl CanaryExpectation {
    /// stepWeight/maxWeight from a Canary object (Flagger's defaults when absent are not
    /// guessed: a missing field gives 0 and the assertion will say so).
    pub fn from_canary(canary: &Value) -> CanaryExpectation {
        let a = |k: &str| canary.pointer(&format!("/spec/analysis/{k}")).and_then(Value::as_f64).unwrap_or(0.0);
        CanaryExpectation { step_weight: a("stepWeight"), max_weight: a("maxWeight"), new_image: None, new_env: None }
    }

    /// The weights Flagger steps through: step, 2·step, … up to maxWeight.
    pub fn expected_weights(&self) -> Vec<f64> {
        let mut out = Vec::new();
        if self.step_weight <= 0.0 {
            return out;
        }
        let mut w = self.step_weight;
        while w < self.max_weight - 1e-9 {
            out.push(w);
            w += self.step_weight;
        }
        out.push(self.max_weight);
        out
    }
}

/// What a failed rollout must look like.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RollbackExpectation {
    /// `spec.analysis.threshold`.
    pub threshold: u32,
    /// Image the primary must still run (None: it must merely not change during the rollout).
    pub old_image: Option<String>,
    /// Env var the primary must still carry.
    pub old_env: Option<(String, String)>,
}

impl RollbackExpectation {
    /// threshold from a Canary object.
    pub fn from_canary(canary: &Value) -> RollbackExpectation {
        let threshold = canary.pointer("/spec/analysis/threshold").and_then(Value::as_u64).unwrap_or(0) as u32;
        RollbackExpectation { threshold, old_image: None, old_env: None }
    }
}

/// What a successful A/B (header-matched, iteration-based) rollout must look like.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AbExpectation {
    /// The match header as `name=value` (e.g. `x-faces-user=testuser`).
    pub header: String,
    /// `spec.analysis.iterations`.
    pub iterations: u32,
    /// Image the primary must run afterwards.
    pub new_image: Option<String>,
    /// Env var the primary must carry afterwards.
    pub new_env: Option<(String, String)>,
}

struct Checker<'t> {
    t: &'t Timeline,
}

impl Checker<'_> {
    fn fail(&self, check: &str, expected: impl Into<String>, seen: impl Into<String>) -> AssertionFailure {
        AssertionFailure {
            canary: self.t.canary.clone(),
            check: check.to_string(),
            expected: expected.into(),
            seen: seen.into(),
            timeline: self.t.table(),
        }
    }

    fn rollout(&self) -> Result<&[Row], AssertionFailure> {
        let r = self.t.rollout();
        if r.is_empty() {
            let phases: Vec<String> = dedup(self.t.rows.iter().map(|r| r.phase.to_string()));
            return Err(self.fail(
                "no rollout started",
                "a new rollout (phase Progressing/Waiting) after the change",
                format!("phases {}", if phases.is_empty() { "none (no Canary status seen)".into() } else { phases.join(" → ") }),
            ));
        }
        Ok(r)
    }

    fn final_phase(&self, rollout: &[Row], want: Phase) -> Result<(), AssertionFailure> {
        let phases = dedup(rollout.iter().map(|r| r.phase.to_string()));
        let last = rollout.last().map(|r| r.phase.clone()).unwrap_or(Phase::None);
        if last != want {
            return Err(self.fail(
                &format!("rollout did not end {want}"),
                format!("final phase {want}"),
                format!("phases {}", phases.join(" → ")),
            ));
        }
        Ok(())
    }

    fn back_to_primary(&self, rollout: &[Row]) -> Result<(), AssertionFailure> {
        let last = rollout.iter().rev().find_map(|r| r.routed.clone());
        match last {
            Some(r) if (r.primary - 100.0).abs() < 1e-6 && r.canary.abs() < 1e-6 && r.header_match.is_none() => Ok(()),
            Some(r) => {
                Err(self.fail("routing not back to the primary", "routed 100% primary / 0% canary, no header route", format!("routed {r}")))
            }
            None => Err(self.fail("routing never observed", "routed 100% primary / 0% canary", "no routing object seen")),
        }
    }

    fn primary_has(
        &self,
        rollout: &[Row],
        image: &Option<String>,
        env: &Option<(String, String)>,
        when: &str,
    ) -> Result<(), AssertionFailure> {
        let primary = rollout.iter().rev().find_map(|r| r.primary.clone());
        if image.is_none() && env.is_none() {
            return Ok(());
        }
        let Some(p) = primary else {
            return Err(self.fail("primary Deployment never observed", format!("primary {when}"), "no <target>-primary Deployment seen"));
        };
        if let Some(img) = image
            && p.image.as_deref() != Some(img.as_str())
        {
            return Err(self.fail(
                &format!("primary image {when}"),
                format!("primary image {img}"),
                format!("primary image {}", p.image.as_deref().unwrap_or("(none)")),
            ));
        }
        if let Some((k, v)) = env {
            let got = p.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if got.as_deref() != Some(v.as_str()) {
                return Err(self.fail(
                    &format!("primary env {when}"),
                    format!("primary env {k}={v}"),
                    format!("primary env {k}={}", got.as_deref().unwrap_or("(unset)")),
                ));
            }
        }
        Ok(())
    }
}

fn dedup(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in it {
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}

fn fmt_weights(ws: &[f64]) -> String {
    let parts: Vec<String> = ws.iter().map(|w| if w.fract() == 0.0 { format!("{}", *w as i64) } else { format!("{w}") }).collect();
    format!("[{}]", parts.join(", "))
}

/// Progressing → canaryWeight rises by stepWeight up to maxWeight (and the routing object shows
/// maxWeight to the canary) → Promoting/Finalising → Succeeded; primary runs the new spec;
/// routing back to 100% primary.
pub fn assert_promotes(t: &Timeline, exp: &CanaryExpectation) -> Result<(), AssertionFailure> {
    let c = Checker { t };
    let rollout = c.rollout()?;
    let seen: Vec<f64> =
        dedup_f(rollout.iter().filter(|r| r.phase == Phase::Progressing && r.canary_weight > 0.0).map(|r| r.canary_weight));
    let want = exp.expected_weights();
    if seen != want {
        return Err(c.fail(
            "canary weights did not rise by stepWeight up to maxWeight",
            format!("status.canaryWeight {} (stepWeight {}, maxWeight {})", fmt_weights(&want), exp.step_weight, exp.max_weight),
            format!("status.canaryWeight {}", fmt_weights(&seen)),
        ));
    }
    let routed_max = rollout.iter().filter_map(|r| r.routed.as_ref()).map(|r| r.canary).fold(0.0f64, f64::max);
    if (routed_max - exp.max_weight).abs() > 1e-6 {
        return Err(c.fail(
            "routing object never sent maxWeight to the canary",
            format!("routed canary share reaching {}%", exp.max_weight),
            format!("highest routed canary share {routed_max}%"),
        ));
    }
    let last_progressing = rollout.iter().rposition(|r| r.phase == Phase::Progressing).unwrap_or(0);
    if !rollout[last_progressing..].iter().any(|r| matches!(r.phase, Phase::Promoting | Phase::Finalising)) {
        let phases = dedup(rollout.iter().map(|r| r.phase.to_string()));
        return Err(c.fail(
            "no promotion after the analysis",
            "Progressing → Promoting/Finalising → Succeeded",
            format!("phases {}", phases.join(" → ")),
        ));
    }
    c.final_phase(rollout, Phase::Succeeded)?;
    c.back_to_primary(rollout)?;
    c.primary_has(rollout, &exp.new_image, &exp.new_env, "after promotion")
}

fn dedup_f(it: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    for w in it {
        if out.last().map(|l| (l - w).abs() > 1e-9).unwrap_or(true) {
            out.push(w);
        }
    }
    out
}

/// failedChecks reaches threshold → Failed; routing back to 100% primary; the primary still
/// runs the old spec (and did not change during the rollout).
pub fn assert_fails_and_rolls_back(t: &Timeline, exp: &RollbackExpectation) -> Result<(), AssertionFailure> {
    let c = Checker { t };
    let rollout = c.rollout()?;
    let max_failed = rollout.iter().map(|r| r.failed_checks).max().unwrap_or(0);
    if max_failed < exp.threshold {
        let seen = dedup(rollout.iter().map(|r| r.failed_checks.to_string()));
        return Err(c.fail(
            "failedChecks never reached the threshold",
            format!("status.failedChecks reaching {}", exp.threshold),
            format!("status.failedChecks {}", seen.join(" → ")),
        ));
    }
    c.final_phase(rollout, Phase::Failed)?;
    c.back_to_primary(rollout)?;
    let primaries = dedup(rollout.iter().filter_map(|r| r.primary.as_ref()).map(|p| format!("{p:?}")));
    if primaries.len() > 1 {
        return Err(c.fail(
            "primary changed during a failed rollout",
            "primary spec unchanged",
            format!("primary specs {}", primaries.join(" → ")),
        ));
    }
    c.primary_has(rollout, &exp.old_image, &exp.old_env, "after rollback")
}

/// A/B: while iterating, requests matching the header go to the canary and unmatched traffic
/// stays 100% on the primary; iterations reach the expected count; Succeeded; header route removed.
pub fn assert_ab_promotes(t: &Timeline, exp: &AbExpectation) -> Result<(), AssertionFailure> {
    let c = Checker { t };
    let rollout = c.rollout()?;
    let routes: Vec<String> = dedup(rollout.iter().filter_map(|r| r.routed.as_ref()).map(|r| r.to_string()));
    let header_rows: Vec<&Row> =
        rollout.iter().filter(|r| r.routed.as_ref().and_then(|x| x.header_match.as_deref()) == Some(exp.header.as_str())).collect();
    if header_rows.is_empty() {
        return Err(c.fail(
            "header route never set",
            format!("requests with {} routed to the canary", exp.header),
            format!("routes {}", routes.join(" → ")),
        ));
    }
    if let Some(r) = header_rows.iter().find(|r| r.routed.as_ref().map(|x| x.canary > 0.0).unwrap_or(false)) {
        return Err(c.fail(
            "unmatched traffic reached the canary during the A/B test",
            "unmatched requests 100% to the primary",
            format!("routed {}", r.routed.as_ref().map(|x| x.to_string()).unwrap_or_default()),
        ));
    }
    let max_iter = rollout.iter().map(|r| r.iterations).max().unwrap_or(0);
    if max_iter < exp.iterations {
        return Err(c.fail(
            "A/B iterations incomplete",
            format!("status.iterations reaching {}", exp.iterations),
            format!("at most {max_iter}"),
        ));
    }
    c.final_phase(rollout, Phase::Succeeded)?;
    c.back_to_primary(rollout)?;
    c.primary_has(rollout, &exp.new_image, &exp.new_env, "after promotion")
}
