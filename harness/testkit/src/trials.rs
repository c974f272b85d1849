//! Docker Engine tests as libtest-mimic trials (`harness = false`, nextest compatible).
//!
//! The engine is probed once at start-up. When none answers, every Docker trial is listed as
//! **ignored**, and the always-run trial [`AVAILABILITY_TRIAL`] passes and states why on stdout
//! (nextest shows it: see `.config/nextest.toml`). A Docker trial forced to run anyway
//! (`--ignored`, `--include-ignored`, `--run-ignored all`) fails with that reason: it never passes
//! without an engine. With `GITOPS_HARNESS_REQUIRE_DOCKER=1` (CI on a machine with Docker) the
//! Docker trials are not ignored and a missing engine fails them and the availability trial.
//! A Docker trial with a precondition ([`Trials::docker_if`]) that does not hold is ignored the
//! same way, and the availability trial names it with the reason.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use gitops_harness::docker::{self, DockerError};
use libtest_mimic::{Arguments, Failed, Trial};

/// Environment variable that makes a missing Docker Engine a failure instead of a skip.
pub const REQUIRE_ENV: &str = "GITOPS_HARNESS_REQUIRE_DOCKER";
/// Name of the always-run trial that reports whether the Docker trials can run, and why not.
pub const AVAILABILITY_TRIAL: &str = "docker::engine_availability";
/// How long the start-up probe waits for the engine (listing must stay fast: nextest lists
/// every binary before each run).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The tokio runtime a Docker trial's body runs on (built inside the trial).
#[derive(Clone, Copy, Debug)]
pub enum Flavor {
    /// `#[tokio::test]`'s default.
    CurrentThread,
    /// A multi-threaded runtime with this many workers.
    MultiThread(usize),
}

/// Whether a Docker Engine answered the start-up probe.
#[derive(Clone, Debug)]
pub struct Engine {
    /// Where the client looks (`$DOCKER_HOST`, else the local socket).
    pub endpoint: String,
    /// Why no engine can be used; `None` when one answered.
    pub absent: Option<String>,
    /// `GITOPS_HARNESS_REQUIRE_DOCKER=1`: a missing engine is a failure.
    pub required: bool,
}

impl Engine {
    /// Probe the engine once: connect, ping and agree on an API version, within [`PROBE_TIMEOUT`].
    pub fn probe() -> Self {
        let required = matches!(std::env::var(REQUIRE_ENV).as_deref(), Ok("1" | "true"));
        let endpoint = docker::endpoint();
        let absent = probe_engine().err().map(|e| format!("no Docker Engine answers at {endpoint} ({e})"));
        Engine { endpoint, absent, required }
    }

    /// Docker trials are ignored when no engine answers, unless the run demands one.
    fn ignore_docker_trials(&self) -> bool {
        self.absent.is_some() && !self.required
    }
}

fn probe_engine() -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime to probe it: {e}"))?;
    rt.block_on(async {
        match tokio::time::timeout(PROBE_TIMEOUT, docker::connect()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(DockerError::Unreachable { reason, .. })) => Err(reason),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
        }
    })
}

/// "1 Docker Engine test", "6 Docker Engine tests".
fn tests(count: usize) -> String {
    format!("{count} Docker Engine test{}", if count == 1 { "" } else { "s" })
}

/// The trials of one test binary: Docker trials, plain trials, and the availability trial.
pub struct Trials {
    engine: Engine,
    docker: Vec<Trial>,
    plain: Vec<Trial>,
    /// Docker trials ignored although an engine answers: `(name, why)`.
    unmet: Vec<(String, String)>,
}

impl Trials {
    /// Probe the engine (once) and start an empty list.
    pub fn probe() -> Self {
        Trials { engine: Engine::probe(), docker: Vec::new(), plain: Vec::new(), unmet: Vec::new() }
    }

    /// Whether an engine answered the probe (for preconditions that ask it more).
    pub fn engine_answers(&self) -> bool {
        self.engine.absent.is_none()
    }

    /// A trial that needs the Docker Engine: `body` runs on its own tokio runtime of `flavor`
    /// when an engine answered; otherwise the trial is ignored, or fails with the reason.
    pub fn docker<F, Fut>(&mut self, name: &str, flavor: Flavor, body: F) -> &mut Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        self.docker_if(name, Ok(()), flavor, body)
    }

    /// A Docker trial that also needs `precondition` (checked by the caller against the engine,
    /// e.g. that its network is reachable from this network namespace). When it does not hold,
    /// the trial is ignored and the availability trial says why; when the run demands the engine
    /// ([`REQUIRE_ENV`]), it fails with that reason instead.
    pub fn docker_if<F, Fut>(&mut self, name: &str, precondition: Result<(), String>, flavor: Flavor, body: F) -> &mut Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let absent = self.engine.absent.clone();
        let unmet = if absent.is_none() { precondition.err() } else { None };
        if let Some(why) = &unmet {
            self.unmet.push((name.to_string(), why.clone()));
        }
        let ignored = self.engine.ignore_docker_trials() || (unmet.is_some() && !self.engine.required);
        let trial = Trial::test(name, move || {
            if let Some(reason) = absent {
                return Err(format!("needs the Docker Engine, but {reason}; install/start Docker to run it").into());
            }
            if let Some(why) = unmet {
                return Err(format!("the Docker Engine answers, but {why}").into());
            }
            let mut builder = match flavor {
                Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
                Flavor::MultiThread(workers) => {
                    let mut b = tokio::runtime::Builder::new_multi_thread();
                    b.worker_threads(workers);
                    b
                }
            };
            let rt = builder.enable_all().build().map_err(|e| Failed::from(format!("building the tokio runtime: {e}")))?;
            rt.block_on(body());
            Ok(())
        })
        .with_ignored_flag(ignored);
        self.docker.push(trial);
        self
    }

    /// A trial that needs no engine: it always runs (assertions panic, which fails the trial).
    pub fn plain(&mut self, name: &str, body: fn()) -> &mut Self {
        self.plain.push(Trial::test(name, move || {
            body();
            Ok(())
        }));
        self
    }

    /// The always-run trial stating the engine verdict on stdout; it fails when the run demands
    /// an engine ([`REQUIRE_ENV`]) and none answers.
    fn availability_trial(&self) -> Trial {
        let engine = self.engine.clone();
        let count = self.docker.len();
        let unmet = self.unmet.clone();
        Trial::test(AVAILABILITY_TRIAL, move || match &engine.absent {
            None if unmet.is_empty() => {
                println!("Docker Engine answers at {}: {} run", engine.endpoint, tests(count));
                Ok(())
            }
            None => {
                let verb = if engine.required { "fail" } else { "are ignored" };
                println!("Docker Engine answers at {}: {} run; these {verb}:", engine.endpoint, tests(count - unmet.len()));
                for (name, why) in &unmet {
                    println!("  {name}: {why}");
                }
                Ok(())
            }
            Some(reason) if engine.required => {
                Err(format!("{REQUIRE_ENV}=1 demands the Docker Engine for {}, but {reason}", tests(count)).into())
            }
            Some(reason) => {
                println!("{} ignored: {reason}; install/start Docker to run them", tests(count));
                Ok(())
            }
        })
    }

    /// Parse the command line (libtest's, as cargo test and nextest pass it) and run.
    pub fn run(self) -> ExitCode {
        let args = Arguments::from_args();
        let mut all = vec![self.availability_trial()];
        all.extend(self.docker);
        all.extend(self.plain);
        libtest_mimic::run(&args, all).exit_code()
    }
}
