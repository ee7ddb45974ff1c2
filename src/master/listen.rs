//! Binding the master.cf `inet` services: `host:port`, `port`, or a service name
//! (smtp, submission, smtps, or /etc/services), on $inet_interfaces when no host is given
//! (for `all` and `loopback-only`, IPv4 and/or IPv6 by $inet_protocols);
//! and which of a listener's `-o` overrides Postern does not act on (named in one start-up
//! warning per service, so that an admin does not believe e.g. `smtpd_tls_wrappermode=yes`
//! is in force).

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use crate::config::Config;
use crate::config::master_cf::Service;
use crate::config::support::{self, Finding};

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
    "anvil_rate_time_unit",
];

/// The `-o name=value` overrides of a listener that have no effect in Postern: unknown
/// parameters, process-wide ones, and those the rule for unimplemented parameters warns
/// about (`config::support`, on top of main.cf `cfg`; the fatal ones are
/// `super::unsupported`'s).
pub fn ineffective_overrides(cfg: &Config, svc: &Service) -> Vec<String> {
    let warned: Vec<String> = support::overrides(cfg, &svc.overrides)
        .into_iter()
        .filter_map(|f| match f {
            Finding::Warn { name } => Some(name),
            Finding::Fatal { .. } => None,
        })
        .collect();
    svc.overrides
        .iter()
        .filter(|(name, _)| {
            PROCESS_WIDE.contains(&name.as_str())
                || crate::config::known(name).is_none()
                || warned.contains(name)
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
            let protocols =
                crate::config::split_list(&cfg.get("inet_protocols").to_ascii_lowercase());
            let v4 = protocols.iter().any(|p| p == "all" || p == "ipv4");
            let v6 = protocols.iter().any(|p| p == "all" || p == "ipv6");
            let pick = |a: &str, b: &str| {
                let mut h = Vec::new();
                if v4 || !v6 {
                    h.push(a.to_string());
                }
                if v6 {
                    h.push(b.to_string());
                }
                h
            };
            match ifaces.as_str() {
                "" | "all" => pick("0.0.0.0", "::"),
                "loopback-only" => pick("127.0.0.1", "::1"),
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

/// Bind one address. IPv6 listeners take IPv6 only, so `[::]` and `0.0.0.0` can share a
/// port (inet_protocols = all).
pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    let r = match addr {
        SocketAddr::V6(a) => crate::sys::listen_v6only(a, 128),
        SocketAddr::V4(_) => TcpListener::bind(addr),
    };
    r.map_err(|e| format!("bind {} port {}: {}", addr.ip(), addr.port(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_without_effect() {
        let svc = crate::config::master_cf::parse(
            "smtps inet n - n - - smtpd -o syslog_name=postfix/smtps -o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes -o smtpd_relay_restrictions=reject -o milter_macro_daemon_name=ORIGINATING -o myhostname=x\n",
            "m",
        )
        .unwrap()
        .remove(0);
        assert_eq!(
            ineffective_overrides(&Config::from_pairs(std::path::Path::new("/x"), &[]), &svc),
            vec!["-o milter_macro_daemon_name=ORIGINATING"]
        );
    }

    #[test]
    fn wildcards_follow_inet_protocols() {
        let svc = crate::config::master_cf::parse("2525 inet n - n - - smtpd\n", "m")
            .unwrap()
            .remove(0);
        let at = |protocols: &str, ifaces: &str| -> Vec<String> {
            let cfg = Config::from_pairs(
                std::path::Path::new("/x"),
                &[("inet_protocols", protocols), ("inet_interfaces", ifaces)],
            );
            addresses(&cfg, &svc)
                .unwrap()
                .iter()
                .map(|a| a.to_string())
                .collect()
        };
        assert_eq!(at("all", "all"), vec!["0.0.0.0:2525", "[::]:2525"]);
        assert_eq!(at("ipv4", "all"), vec!["0.0.0.0:2525"]);
        assert_eq!(at("ipv6", "loopback-only"), vec!["[::1]:2525"]);
        assert_eq!(at("all", "127.0.0.1"), vec!["127.0.0.1:2525"]);
    }

    #[test]
    fn service_names() {
        assert_eq!(port_of("smtp"), Some(25));
        assert_eq!(port_of("2525"), Some(2525));
        assert_eq!(port_of("no-such-service-xyz"), None);
    }
}
