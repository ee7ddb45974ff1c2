//! SMTP client authentication (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms,
//! implemented here without Cyrus SASL: smtp_sasl_auth_enable, smtp_sasl_password_maps,
//! smtp_sasl_security_options / smtp_sasl_tls_security_options, smtp_sasl_mechanism_filter,
//! smtp_sender_dependent_authentication.
//!
//! As smtp(8) does: when the server offers AUTH, the password table is searched (with
//! smtp_sender_dependent_authentication, first for the envelope sender with
//! mail_addr_find's keys; never the null sender) for the server's host name,
//! then for the next-hop destination as the request names it (`[host]:port`, `host`,
//! `domain`); the value is `user:password`. No entry: the session
//! goes on without AUTH. An entry: AUTH is required for this session, and a failure
//! (a 5xx becomes 4xx while smtp_sasl_auth_soft_bounce = yes) ends the session with
//! `SASL authentication failed; server X said: ...`, never a mail transaction without
//! authentication. A table lookup error defers (4.3.0). `noplaintext` in the security
//! options in force (smtp_sasl_tls_security_options over TLS, smtp_sasl_security_options
//! otherwise) rules out both PLAIN and LOGIN, as Cyrus SASL does; with Postfix's defaults
//! (`noplaintext, noanonymous` for both) Postern's client therefore cannot authenticate
//! until the options allow plaintext mechanisms (usually `smtp_sasl_tls_security_options =
//! noanonymous` with TLS).
//!
//! Security role: credentials are sent only to the server whose entry they are, and only
//! with a mechanism the options allow. Logs nothing (the failure text is the deferral).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::reply::Reply;
use super::stream::{Stream, StreamError};
use crate::config::Config;
use crate::delivery::dsn_of;
use crate::reply::{Class, Dsn};
use crate::rewrite::{AddrMaps, Rewrite};
use crate::tables::{TableError, TableList};

/// The SASL settings of the client.
#[derive(Clone, Default)]
pub struct SaslSettings {
    pub enabled: bool,
    pub maps: Option<Arc<TableList>>,
    /// smtp_sasl_security_options has `noplaintext`.
    pub noplaintext: bool,
    /// smtp_sasl_tls_security_options has `noplaintext`.
    pub tls_noplaintext: bool,
    /// smtp_sasl_mechanism_filter (upper case), empty: no filter.
    pub filter: Vec<String>,
    pub soft_bounce: bool,
    /// smtp_sender_dependent_authentication: the `user:password` entry found for the
    /// envelope sender, which goes before the server's and the next hop's.
    pub sender_entry: Option<String>,
    /// The sender lookup failed: reported (the mail defers) only if AUTH is offered, as
    /// Postfix looks the sender up only then.
    pub sender_error: Option<TableError>,
}

impl fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslSettings")
            .field("enabled", &self.enabled)
            .finish()
    }
}

fn words(v: &str) -> impl Iterator<Item = &str> {
    v.split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

impl SaslSettings {
    /// The settings of `cfg`; the password table is opened only when AUTH is enabled.
    pub fn from_config(cfg: &Config) -> Result<SaslSettings, TableError> {
        let enabled = cfg.bool("smtp_sasl_auth_enable");
        let noplain = |p: &str| words(cfg.get(p)).any(|w| w.eq_ignore_ascii_case("noplaintext"));
        let maps = if enabled {
            Some(Arc::new(TableList::open_list(
                cfg.get("smtp_sasl_password_maps"),
            )?))
        } else {
            None
        };
        Ok(SaslSettings {
            enabled,
            maps,
            noplaintext: noplain("smtp_sasl_security_options"),
            tls_noplaintext: noplain("smtp_sasl_tls_security_options"),
            filter: words(cfg.get("smtp_sasl_mechanism_filter"))
                .map(str::to_ascii_uppercase)
                .collect(),
            soft_bounce: cfg.bool("smtp_sasl_auth_soft_bounce"),
            sender_entry: None,
            sender_error: None,
        })
    }

    /// The settings for mail from `sender`: with smtp_sender_dependent_authentication the
    /// password table is searched by the sender first, with mail_addr_find's keys (the
    /// address, without its extension, the local part for our own domains, `@domain`;
    /// pattern tables see the whole address only); never for the null sender. `rw` gives
    /// the address rules, asked for only then.
    pub fn for_sender<'a>(
        mut self,
        cfg: &Config,
        rw: impl FnOnce() -> &'a Rewrite,
        sender: &str,
    ) -> SaslSettings {
        if !cfg.bool("smtp_sender_dependent_authentication") || sender.is_empty() {
            return self;
        }
        let Some(list) = self.maps.clone() else {
            return self;
        };
        let rw = rw();
        let maps = AddrMaps::from_list("smtp_sasl_password_maps", list);
        let ours = rw.local_part_keys(&crate::rewrite::domain_of(sender));
        match maps.find(rw, sender, ours) {
            Ok(found) => self.sender_entry = found.map(|f| f.value),
            Err((e, _)) => self.sender_error = Some(e),
        }
        self
    }
}

/// Why authentication did not happen.
#[derive(Debug)]
pub enum AuthError {
    /// A session-level failure with its DSN and text.
    Failed { dsn: Dsn, text: String },
    /// The connection broke.
    Io(StreamError, &'static str),
    /// The password table failed.
    Lookup(TableError),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Failed { dsn, text } => write!(f, "{} {}", dsn, text),
            AuthError::Io(e, stage) => write!(f, "{} while {}", e, stage),
            AuthError::Lookup(e) => write!(f, "{}", e),
        }
    }
}

fn failed(dsn: Dsn, text: String) -> AuthError {
    AuthError::Failed { dsn, text }
}

/// The `user:password` entry for mail from the sender of `set` (see
/// `SaslSettings::for_sender`), else for a server (`host`, then the destination `dest`).
pub fn lookup(
    set: &SaslSettings,
    maps: &TableList,
    host: &str,
    dest: &str,
) -> Result<Option<(String, String)>, TableError> {
    if let Some(e) = &set.sender_error {
        return Err(e.clone());
    }
    let mut v = set.sender_entry.clone();
    if v.is_none() {
        v = maps.lookup(&host.to_ascii_lowercase())?;
    }
    if v.is_none() {
        v = maps.lookup(&dest.to_ascii_lowercase())?;
    }
    Ok(v.map(|v| match v.split_once(':') {
        Some((u, p)) => (u.to_string(), p.to_string()),
        None => (v, String::new()),
    }))
}

/// The mechanism to use, from the server's AUTH list.
fn choose(
    set: &SaslSettings,
    offered: &str,
    tls: bool,
    namaddr: &str,
) -> Result<&'static str, AuthError> {
    let mut list: Vec<String> = words(offered).map(str::to_ascii_uppercase).collect();
    if !set.filter.is_empty() {
        list.retain(|m| set.filter.contains(m));
    }
    if list.is_empty() {
        return Err(failed(
            dsn_of("4.7.0"),
            format!(
                "SASL authentication failed: server {} offered no compatible authentication mechanisms for this type of connection security",
                namaddr
            ),
        ));
    }
    let noplaintext = if tls {
        set.tls_noplaintext
    } else {
        set.noplaintext
    };
    let mine = ["PLAIN", "LOGIN"];
    match mine
        .iter()
        .find(|m| !noplaintext && list.iter().any(|o| o == *m))
    {
        Some(m) => Ok(m),
        None => Err(failed(
            dsn_of("4.7.0"),
            format!(
                "SASL authentication failed; cannot authenticate to server {}: no mechanism available",
                namaddr
            ),
        )),
    }
}

fn exchange(stream: &mut Stream, line: &str, t: Duration) -> Result<Reply, AuthError> {
    const STAGE: &str = "performing the AUTH handshake";
    stream
        .send(format!("{}\r\n", line).as_bytes(), t)
        .and_then(|_| stream.read_reply(t))
        .map_err(|e| AuthError::Io(e, STAGE))
}

/// AUTH when enabled, offered (`ext`: the EHLO extensions) and the password table has
/// an entry for `(host, dest)`; nothing to do otherwise.
pub fn login(
    stream: &mut Stream,
    set: &SaslSettings,
    ext: &[(String, String)],
    (host, dest): (&str, &str),
    namaddr: &str,
    t: Duration,
) -> Result<(), AuthError> {
    let (Some(maps), Some((_, offered))) =
        (set.maps.as_ref(), ext.iter().find(|(k, _)| k == "AUTH"))
    else {
        return Ok(());
    };
    match lookup(set, maps, host, dest).map_err(AuthError::Lookup)? {
        Some((user, pass)) => authenticate(stream, set, offered, (&user, &pass), namaddr, t),
        None => Ok(()),
    }
}

/// Authenticate as `user` with `pass` to a server that offered the mechanisms `offered`.
pub fn authenticate(
    stream: &mut Stream,
    set: &SaslSettings,
    offered: &str,
    (user, pass): (&str, &str),
    namaddr: &str,
    t: Duration,
) -> Result<(), AuthError> {
    let mech = choose(set, offered, stream.is_tls(), namaddr)?;
    let mut r = if mech == "PLAIN" {
        let mut ir = Vec::new();
        ir.push(0);
        ir.extend_from_slice(user.as_bytes());
        ir.push(0);
        ir.extend_from_slice(pass.as_bytes());
        exchange(
            stream,
            &format!("AUTH PLAIN {}", crate::sasl::base64::encode(&ir)),
            t,
        )?
    } else {
        exchange(stream, "AUTH LOGIN", t)?
    };
    let mut answers = if mech == "LOGIN" {
        vec![
            crate::sasl::base64::encode(pass.as_bytes()),
            crate::sasl::base64::encode(user.as_bytes()),
        ]
    } else {
        Vec::new()
    };
    let mut steps = 0;
    while r.class() == Class::Intermediate {
        steps += 1;
        if steps > 10 {
            return Err(failed(
                dsn_of("4.3.0"),
                format!(
                    "SASL authentication failed; authentication protocol loop with server {}",
                    namaddr
                ),
            ));
        }
        match answers.pop() {
            Some(a) => r = exchange(stream, &a, t)?,
            None => {
                // Cancel the exchange (RFC 4954 section 4).
                r = exchange(stream, "*", t)?;
            }
        }
    }
    if r.class() == Class::Success {
        return Ok(());
    }
    let mut dsn = r.dsn();
    if set.soft_bounce && dsn.class() == Class::Permanent {
        dsn = dsn.with_class(Class::Transient);
    }
    Err(failed(
        dsn,
        format!(
            "SASL authentication failed; server {} said: {}",
            namaddr,
            r.text()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_response_is_base64_of_nul_user_nul_password() {
        // The encoder is the one the SMTP server's AUTH uses (crate::sasl::base64).
        assert_eq!(
            crate::sasl::base64::encode(b"\0user\0pass"),
            "AHVzZXIAcGFzcw=="
        );
    }

    #[test]
    fn mechanism_choice() {
        let mut s = SaslSettings::default();
        assert_eq!(choose(&s, "LOGIN PLAIN", false, "x").unwrap(), "PLAIN");
        assert_eq!(choose(&s, "login", false, "x").unwrap(), "LOGIN");
        s.filter = vec!["LOGIN".into()];
        assert_eq!(choose(&s, "LOGIN PLAIN", false, "x").unwrap(), "LOGIN");
        assert!(choose(&s, "PLAIN CRAM-MD5", false, "x").is_err());
        s.filter.clear();
        s.noplaintext = true;
        assert!(choose(&s, "PLAIN", false, "x").is_err());
        assert_eq!(choose(&s, "PLAIN", true, "x").unwrap(), "PLAIN");
    }
}
