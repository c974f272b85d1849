//! Live progress of a bootstrap: one line per component (state, elapsed, blocking dependency or
//! message) with `indicatif` on a terminal, plain timestamped lines elsewhere (CI logs).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::readiness::{Change, ComponentState, Outcome, Tracker};
use crate::repo::ObjectRef;

/// Renders readiness changes.
pub enum Progress {
    /// Live bars on a terminal.
    Bars {
        /// The bars' container.
        multi: MultiProgress,
        /// One bar per component.
        bars: BTreeMap<ObjectRef, ProgressBar>,
    },
    /// Plain lines (not a terminal).
    Plain(Box<dyn Write + Send>),
}

fn icon(state: &ComponentState) -> &'static str {
    match state {
        ComponentState::Ready { .. } => "✔",
        ComponentState::Failed { .. } | ComponentState::Stalled { .. } => "✘",
        ComponentState::Blocked { .. } | ComponentState::Pending => "…",
        ComponentState::Reconciling { .. } => "↻",
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}

/// The plain-text line for one change.
pub fn plain_line(change: &Change) -> String {
    let wave = change.wave.map(|w| format!("wave {w}")).unwrap_or_else(|| "      ".to_string());
    let detail = change.state.detail();
    format!(
        "[{:>6.1}s] {wave} {:<50} {:<11}{}",
        change.at.as_secs_f64(),
        change.key.to_string(),
        change.state.label(),
        if detail.is_empty() { String::new() } else { format!(" {}", truncate(&detail, 160)) }
    )
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines on stderr otherwise.
    pub fn for_stderr(tracker: &Tracker) -> Progress {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {prefix:<50} {elapsed:>5} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let mut bars = BTreeMap::new();
            for (key, track) in tracker.tracks() {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(format!("w{} {key}", track.wave.map(|w| w.to_string()).unwrap_or_else(|| "-".into())));
                bar.set_message("pending");
                bar.enable_steady_tick(Duration::from_millis(200));
                bars.insert(key.clone(), bar);
            }
            Progress::Bars { multi, bars }
        } else {
            Progress::Plain(Box::new(std::io::stderr()))
        }
    }

    /// Plain lines into any writer (tests, logs).
    pub fn plain(out: Box<dyn Write + Send>) -> Progress {
        Progress::Plain(out)
    }

    /// Show one change.
    pub fn on_change(&mut self, change: &Change) {
        match self {
            Progress::Plain(out) => {
                let _ = writeln!(out, "{}", plain_line(change));
            }
            Progress::Bars { multi, bars } => {
                let bar = bars.entry(change.key.clone()).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_prefix(change.key.to_string());
                    b
                });
                let msg = format!("{} {} {}", icon(&change.state), change.state.label(), truncate(&change.state.detail(), 100));
                match change.state {
                    ComponentState::Ready { .. } | ComponentState::Stalled { .. } => bar.finish_with_message(msg),
                    _ => bar.set_message(msg),
                }
            }
        }
    }

    /// Print a line of its own (what a backend did during the wait), above the live display.
    pub fn note(&mut self, line: &str) {
        match self {
            Progress::Plain(out) => {
                let _ = writeln!(out, "{line}");
            }
            Progress::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
        }
    }

    /// Stop the live display and print the outcome.
    pub fn finish(&mut self, outcome: &Outcome) {
        if let Progress::Bars { bars, .. } = self {
            for b in bars.values() {
                if !b.is_finished() {
                    b.abandon();
                }
            }
        }
        let line = match outcome {
            Outcome::AllReady { .. } => format!("✔ {outcome}"),
            _ => format!("✘ {outcome}"),
        };
        match self {
            Progress::Plain(out) => {
                let _ = writeln!(out, "{line}");
            }
            Progress::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
        }
    }
}
