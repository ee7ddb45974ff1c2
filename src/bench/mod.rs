//! Pieces of the postern-bench load generator (src/bin/postern-bench/main.rs) that do not touch
//! the network: SMTP reply parsing and message generation (`smtp`), and the measurements
//! (`stats`: latency percentiles, counting messages in a growing mbox, peak RSS), and the
//! idle-session measurement (`idle`: memory of a server holding N silent clients), and the
//! pacing of `--rate` (`pace`).
//!
//! Security role: none; this is client-side test tooling, never used by the server. It logs
//! nothing. Follows RFC 5321 (reply syntax, dot-stuffing) and RFC 2920 (PIPELINING).

use std::fmt;
use std::io;

pub mod idle;
pub mod opts;
pub mod pace;
pub mod smtp;
pub mod stats;

/// What went wrong, for the user.
#[derive(Debug)]
pub enum BenchError {
    Usage(String),
    Io(String, io::Error),
    Protocol(String),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Usage(m) => write!(f, "{}", m),
            BenchError::Io(what, e) => write!(f, "{}: {}", what, e),
            BenchError::Protocol(m) => write!(f, "{}", m),
        }
    }
}

impl std::error::Error for BenchError {}
