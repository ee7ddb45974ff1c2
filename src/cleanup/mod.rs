//! cleanup: turns a received message into a queue file (Postfix's cleanup(8)). Adds the
//! Received: header given by the caller, and for local clients the missing Message-ID:,
//! Date: and From: headers; enforces hopcount_limit and header_size_limit; writes the file
//! through `queue::Incoming::commit` (durable before it returns).
//!
//! Logs `ID: message-id=<...>`.

use std::fmt;
use std::io;

use crate::config::Config;
use crate::queue::{Envelope, Incoming};

/// A message handed to cleanup.
pub struct Submission {
    pub envelope: Envelope,
    /// Headers and body with LF line ends, dot-unstuffed, without the Received: header.
    pub content: Vec<u8>,
    /// The complete Received: header to prepend (with its folding), if any.
    pub received: Option<String>,
    /// Add missing Message-ID:, Date:, From: (local clients, local submission).
    pub add_missing_headers: bool,
}

/// Why cleanup refused or failed.
#[derive(Debug)]
pub enum CleanupError {
    Write(io::Error),
    TooManyHops,
    TooBig,
}

impl CleanupError {
    /// The SMTP reply for this error.
    pub fn reply(&self) -> &'static str {
        match self {
            CleanupError::Write(_) => "451 4.3.0 Error: queue file write error",
            CleanupError::TooManyHops => "554 5.4.0 Error: too many hops",
            CleanupError::TooBig => "552 5.3.4 Error: message file too big",
        }
    }
}

impl fmt::Display for CleanupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CleanupError::Write(e) => write!(f, "queue file write error: {}", e),
            CleanupError::TooManyHops => write!(f, "too many hops"),
            CleanupError::TooBig => write!(f, "message file too big"),
        }
    }
}

impl std::error::Error for CleanupError {}

/// Process and durably queue a message; returns its queue ID.
pub fn submit(cfg: &Config, incoming: Incoming, sub: Submission) -> Result<String, CleanupError> {
    let _ = (cfg, incoming, sub);
    todo!("cleanup::submit")
}
