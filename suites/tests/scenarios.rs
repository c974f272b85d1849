//! The end-to-end scenario suite (libtest-mimic, `harness = false`): runs against the shared
//! harness cluster, or lists every scenario as ignored with the reason when none is reachable.

fn main() -> std::process::ExitCode {
    gitops_harness_suites::runner::main("scenarios", &gitops_harness_suites::scenarios::all())
}
