//! DNS lookups for the SMTP client (MX, A, AAAA) and smtpd's DNS lists (A, TXT), without an async runtime: the system
//! resolver configuration (/etc/resolv.conf, parsed by resolv-conf), messages encoded and
//! decoded by hickory-proto, UDP with TCP on truncation over std sockets.
//! `SystemResolver` (resolver.rs) implements `Resolve` over the transport (transport.rs);
//! `testserver::FakeDns` is a loopback DNS server for tests (only with the `test-hooks`
//! feature, which `cargo test` turns on; release builds leave it out).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN): a permanent failure.
    NotFound(String),
    /// No answer now (SERVFAIL, timeout, unreachable server): try again later.
    TempFail(String),
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::NotFound(why) | DnsError::TempFail(why) => write!(f, "{}", why),
        }
    }
}

impl std::error::Error for DnsError {}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    pub name: String,
    pub preference: u16,
}

/// What the SMTP client needs from DNS. Tests substitute their own.
pub trait Resolve: Send + Sync {
    /// MX hosts in preference order, equal preferences in random order. `Ok(vec![])` when
    /// the domain exists but has no MX records (the client then uses its A/AAAA records).
    fn mx(&self, domain: &str) -> Result<Vec<MxHost>, DnsError>;
    /// The IPv4 and IPv6 addresses of a host (A then AAAA).
    fn addrs(&self, host: &str) -> Result<Vec<IpAddr>, DnsError>;
    /// The A records of a name only (DNS lists); `Ok(vec![])` when it has none.
    fn ipv4(&self, name: &str) -> Result<Vec<Ipv4Addr>, DnsError> {
        Err(DnsError::TempFail(format!(
            "{name}: A lookups not supported"
        )))
    }
    /// The NS host names of a name (check_*_ns_access); `Ok(vec![])` when it has none.
    fn ns(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Err(DnsError::TempFail(format!(
            "{name}: NS lookups not supported"
        )))
    }
    /// The TXT records of a name, each one's strings joined (DNS list reasons).
    fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Err(DnsError::TempFail(format!(
            "{name}: TXT lookups not supported"
        )))
    }
}

mod random;
mod resolver;
#[cfg(any(test, feature = "test-hooks"))]
pub mod testserver;
mod transport;

pub use resolver::{SystemResolver, decode_reply};
