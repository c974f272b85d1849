//! Stop signals for long-running commands (`up`, `upgrade`, `serve-git`, the sim's background
//! processes): SIGINT, SIGTERM and SIGHUP all mean "stop cleanly".
//!
//! [`StopSignals::install`] must run before the process creates anything it has to clean up and
//! before the first line that tells a supervisor it is up: a signal that arrives earlier would
//! otherwise take the default action and kill the process with its temporary files in place.
//! Once installed, a signal is queued until [`StopSignals::recv`] is polled, so none is lost
//! while the process is busy.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which stop signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (`kill`, a supervisor, `down`).
    Terminate,
    /// SIGHUP (the terminal went away).
    Hangup,
}

impl StopSignal {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            StopSignal::Interrupt => nix::libc::SIGINT,
            StopSignal::Terminate => nix::libc::SIGTERM,
            StopSignal::Hangup => nix::libc::SIGHUP,
        }
    }

    /// The conventional exit code of a process stopped by this signal (128 + its number:
    /// 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), as shells report it.
    pub fn exit_code(self) -> u8 {
        // 128 + 1, 2 or 15: always fits.
        (128 + self.number()) as u8
    }
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        })
    }
}

/// Handlers for SIGINT, SIGTERM and SIGHUP, installed together.
#[derive(Debug)]
pub struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    /// Install the handlers (inside a tokio runtime). From here on none of the three signals
    /// kills the process: each waits for [`StopSignals::recv`].
    pub fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next stop signal (one that arrived since [`StopSignals::install`] is returned at once).
    pub async fn recv(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.int.recv() => StopSignal::Interrupt,
            _ = self.term.recv() => StopSignal::Terminate,
            _ = self.hup.recv() => StopSignal::Hangup,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_128_plus_the_signal() {
        assert_eq!(StopSignal::Interrupt.exit_code(), 130);
        assert_eq!(StopSignal::Terminate.exit_code(), 143);
        assert_eq!(StopSignal::Hangup.exit_code(), 129);
    }

    /// A signal sent before anyone waits is not lost and does not kill the process.
    #[tokio::test]
    async fn a_signal_before_recv_is_queued() {
        let mut s = StopSignals::install().unwrap();
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), s.recv()).await.unwrap();
        assert_eq!(got, StopSignal::Hangup);
    }
}
