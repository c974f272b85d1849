//! `upstream-cassette REPO CLUSTER_DIR CASSETTE`: record a repository's sources into a cassette
//! from the loopback stand-in that serves the real upstream charts of `shared/reference/charts`
//! (packaged at run time). `make test` uses it to rehearse the workshop repository's
//! `clusters/my-cluster` offline; nothing is fetched off this machine.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, cluster_dir, cassette] = args.as_slice() else {
        eprintln!("usage: upstream-cassette REPO CLUSTER_DIR CASSETTE");
        return ExitCode::from(2);
    };
    match gitops_harness_testkit::upstream::record_cassette(Path::new(repo), cluster_dir, Path::new(cassette)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
