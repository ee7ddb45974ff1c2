//! Binding the master.cf `inet` services: `host:port`, `port`, or a service name
//! (smtp, submission, smtps, or /etc/services), on $inet_interfaces when no host is given;
//! and which of a listener's `-o` overrides Postern does not act on (named in one start-up
//! warning per service, so that an admin does not believe e.g. `smtpd_tls_wrappermode=yes`
//! is in force).

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use crate::config::Config;
use crate::config::master_cf::Service;
use crate::config::params;

/// Parameters Postern reads once for the whole process: a per-service `-o` cannot change
/// them (Postfix runs one process per service, Postern one for all).
const PROCESS_WIDE: &[&str] = &[
    "syslog_facility",
    "maillog_file",
    "queue_directory",
    "mail_owner",
    "setgid_group",
    "daemon_directory",
    "command_directory",
];

/// The `-o name=value` overrides of a listener that have no effect in Postern: unknown
/// parameters, parameters marked not implemented, and process-wide ones.
pub fn ineffective_overrides(svc: &Service) -> Vec<String> {
    svc.overrides
        .iter()
        .filter(|(name, _)| {
            PROCESS_WIDE.contains(&name.as_str())
                || params::find(name).is_none_or(|p| !p.implemented)
        })
        .map(|(name, value)| format!("-o {}={}", name, value))
        .collect()
}

/// A port from a number or a service name.
pub fn port_of(name: &str) -> Option<u16> {
    if let Ok(p) = name.parse() {
        return Some(p);
    }
    match name {
        "smtp" => return Some(25),
        "submission" => return Some(587),
        "smtps" | "submissions" => return Some(465),
        _ => {}
    }
    let services = std::fs::read_to_string("/etc/services").ok()?;
    services.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let n = f.next()?;
        let (p, proto) = f.next()?.split_once('/')?;
        (n == name && proto == "tcp")
            .then(|| p.parse().ok())
            .flatten()
    })
}

/// The addresses a service listens on.
pub fn addresses(cfg: &Config, svc: &Service) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = svc.inet_address();
    let port = port_of(&port).ok_or_else(|| format!("unknown service: {}/tcp", port))?;
    let hosts: Vec<String> = match host {
        Some(h) if !h.is_empty() && h != "*" => vec![h],
        _ => {
            let ifaces = cfg.get("inet_interfaces").trim().to_ascii_lowercase();
            match ifaces.as_str() {
                "" | "all" => vec!["0.0.0.0".to_string()],
                "loopback-only" => vec!["127.0.0.1".to_string()],
                _ => crate::config::split_list(&ifaces),
            }
        }
    };
    let mut out = Vec::new();
    for h in hosts {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        let addrs = (h, port)
            .to_socket_addrs()
            .map_err(|e| format!("{}: {}", h, e))?;
        out.extend(addrs.take(1));
    }
    Ok(out)
}

/// Bind one address.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("bind {} port {}: {}", addr.ip(), addr.port(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_without_effect() {
        let svc = crate::config::master_cf::parse(
            "smtps inet n - n - - smtpd -o syslog_name=postfix/smtps -o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes -o smtpd_relay_restrictions=reject -o myhostname=x\n",
            "m",
        )
        .unwrap()
        .remove(0);
        assert_eq!(
            ineffective_overrides(&svc),
            vec![
                "-o smtpd_tls_wrappermode=yes",
                "-o smtpd_sasl_auth_enable=yes"
            ]
        );
    }

    #[test]
    fn service_names() {
        assert_eq!(port_of("smtp"), Some(25));
        assert_eq!(port_of("2525"), Some(2525));
        assert_eq!(port_of("no-such-service-xyz"), None);
    }
}
