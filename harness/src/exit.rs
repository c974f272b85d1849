//! Exit codes, named once for every command (as linters and `flux diff` use them).

use crate::lifecycle::signals::StopSignal;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success, clean, ready, no regression.
    Success,
    /// 1: it ran and found a problem (findings, drift, not Ready, a regression, failed builds).
    Failure,
    /// 2: it could not run (bad arguments, unreadable input, a missing tool, an unreachable
    /// daemon); nothing was judged.
    CouldNotRun,
    /// 128 + the signal's number: stopped by SIGINT (130), SIGTERM (143) or SIGHUP (129).
    Stopped(StopSignal),
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::CouldNotRun => 2,
            Exit::Stopped(sig) => sig.exit_code(),
        }
    }

    /// [`Exit::Success`] when `ok`, else [`Exit::Failure`].
    pub fn ok_if(ok: bool) -> Exit {
        if ok { Exit::Success } else { Exit::Failure }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!([Exit::Success, Exit::Failure, Exit::CouldNotRun].map(Exit::code), [0, 1, 2]);
        assert_eq!(Exit::Stopped(StopSignal::Interrupt).code(), 130);
        assert_eq!(Exit::ok_if(false), Exit::Failure);
    }
}
