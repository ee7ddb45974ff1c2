//! smtpd's SASL settings (postconf(5): smtpd_sasl_auth_enable, smtpd_sasl_type = cyrus or
//! dovecot, smtpd_sasl_path, smtpd_sasl_security_options, smtpd_sasl_tls_security_options,
//! smtpd_sasl_local_domain, broken_sasl_auth_clients, smtpd_sasl_authenticated_header,
//! smtpd_sasl_exceptions_networks, smtpd_sasl_response_limit, smtpd_tls_auth_only,
//! smtpd_sender_login_maps), computed once per configuration and held in `SmtpdContext`.
//! The AUTH command itself is `session::auth`; the libsasl2 binding is crate::sasl.
//!
//! Security role: decides whether AUTH is offered to a client at all, and which logins may
//! use which sender addresses (reject_*sender_login_mismatch). Logs nothing itself.

use std::net::IpAddr;
use std::sync::Arc;

use super::SmtpdContext;
use super::network::NetList;
use crate::config::Config;
use crate::sasl::Sasl;
use crate::tables::TableList;

/// The SASL part of an smtpd configuration (present when smtpd_sasl_auth_enable = yes).
pub struct SaslSettings {
    pub server: Arc<Sasl>,
    pub security_options: String,
    pub tls_security_options: String,
    /// broken_sasl_auth_clients: also announce `AUTH=mech ...`.
    pub broken_clients: bool,
    /// smtpd_sasl_authenticated_header: the login name in the Received: header.
    pub authenticated_header: bool,
    /// smtpd_sasl_exceptions_networks: clients not offered AUTH in the EHLO reply.
    pub exceptions: NetList,
    /// smtpd_tls_auth_only: AUTH only over TLS.
    pub tls_auth_only: bool,
    /// smtpd_sasl_response_limit: the longest response line accepted.
    pub response_limit: usize,
    /// smtpd_client_auth_rate_limit: AUTH commands per client per anvil time unit (0: none).
    pub auth_rate_limit: u32,
}

/// Why the SASL settings are unusable.
#[derive(Debug)]
pub enum SettingsError {
    /// smtpd_sasl_type names an implementation Postern does not have.
    UnsupportedType(String),
    /// crate::sasl could not be set up.
    Sasl(crate::sasl::SaslError),
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsError::UnsupportedType(t) => {
                write!(f, "unsupported SASL server implementation: {}", t)
            }
            SettingsError::Sasl(e) => e.fmt(f),
        }
    }
}

/// The server-side SASL implementations (`postconf -a`).
pub const SERVER_TYPES: &[&str] = &["cyrus", "dovecot"];

impl SaslSettings {
    /// The settings of `cfg`; `Ok(None)` when smtpd_sasl_auth_enable = no.
    pub fn from_config(cfg: &Config) -> Result<Option<SaslSettings>, SettingsError> {
        if !cfg.bool("smtpd_sasl_auth_enable") {
            return Ok(None);
        }
        let kind = cfg.get("smtpd_sasl_type").trim();
        if !SERVER_TYPES.contains(&kind) {
            return Err(SettingsError::UnsupportedType(kind.to_string()));
        }
        let server = if kind == "dovecot" {
            Sasl::setup_dovecot(cfg)
        } else {
            Sasl::setup(cfg).map_err(SettingsError::Sasl)?
        };
        Ok(Some(SaslSettings {
            server: Arc::new(server),
            security_options: cfg.get("smtpd_sasl_security_options").to_string(),
            tls_security_options: cfg.get("smtpd_sasl_tls_security_options").to_string(),
            broken_clients: cfg.bool("broken_sasl_auth_clients"),
            authenticated_header: cfg.bool("smtpd_sasl_authenticated_header"),
            exceptions: NetList::parse_list(cfg.get("smtpd_sasl_exceptions_networks")),
            tls_auth_only: cfg.bool("smtpd_tls_auth_only"),
            response_limit: cfg.int("smtpd_sasl_response_limit").clamp(512, 1 << 20) as usize,
            auth_rate_limit: cfg
                .int("smtpd_client_auth_rate_limit")
                .clamp(0, i64::from(u32::MAX)) as u32,
        }))
    }

    /// As `from_config`; unusable settings are logged (`warning: SASL ...: AUTH is not
    /// offered`) and leave AUTH off: the listener still serves, and permit_sasl_authenticated
    /// permits nobody (Postfix's smtpd would exit fatally on every connection instead).
    pub fn from_config_or_warn(cfg: &Config) -> Option<SaslSettings> {
        match SaslSettings::from_config(cfg) {
            Ok(s) => s,
            Err(e) => {
                crate::log::warning("smtpd", format!("{}: AUTH is not offered", e));
                None
            }
        }
    }

    /// Whether the EHLO reply announces AUTH to this client (Postfix hides it from
    /// smtpd_sasl_exceptions_networks, and before TLS with smtpd_tls_auth_only).
    pub fn announce_to(&self, addr: IpAddr, tls_active: bool) -> bool {
        !self.exceptions.contains(addr) && (tls_active || !self.tls_auth_only)
    }
}

/// smtpd_sender_login_maps: which SASL logins own which sender addresses. A list that
/// cannot be opened is kept as its error: the restrictions that use it then answer with a
/// temporary failure (the listener still serves).
pub struct LoginMaps(Result<TableList, String>);

impl LoginMaps {
    /// The maps of `cfg`, if set; an error opening them is logged (and kept).
    pub fn from_config(cfg: &Config) -> Option<LoginMaps> {
        let v = cfg.get("smtpd_sender_login_maps");
        if v.trim().is_empty() {
            return None;
        }
        let maps = TableList::open_list(v).map_err(|e| format!("smtpd_sender_login_maps: {}", e));
        if let Err(e) = &maps {
            crate::log::warning("smtpd", e);
        }
        Some(LoginMaps(maps))
    }

    /// The owners of `sender` (the address, then `@domain`, as Postfix's mail_addr_find):
    /// `Ok(None)` when no entry; `Err` for a table failure.
    pub fn owners(&self, sender: &str) -> Result<Option<Vec<String>>, String> {
        let mut keys = vec![sender.to_ascii_lowercase()];
        if let Some((_, domain)) = sender.rsplit_once('@') {
            keys.push(format!("@{}", domain.to_ascii_lowercase()));
        }
        let maps = self.0.as_ref().map_err(String::clone)?;
        for k in keys {
            match maps.lookup(&k) {
                Ok(Some(v)) => {
                    let owners = v
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                    return Ok(Some(owners));
                }
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(None)
    }
}

/// Which half of reject_sender_login_mismatch a restriction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginCheck {
    Both,
    /// A logged-in client must own the sender address (an address without owner too).
    Authenticated,
    /// A sender address that has an owner needs a logged-in client.
    Unauthenticated,
}

/// The reply text (after `553 5.7.1 `) when `sender` is refused for `login`, as Postfix's
/// smtpd_check.c: `<s>: Sender address rejected: not owned by user NAME` / `... not logged
/// in`. `Err` is a table failure. A sender without `@` is looked up with @$myorigin.
pub fn login_mismatch(
    ctx: &SmtpdContext,
    which: LoginCheck,
    sender: Option<&str>,
    login: Option<&str>,
) -> Result<Option<String>, String> {
    let (Some(maps), Some(sender)) = (ctx.sender_login_maps.as_ref(), sender) else {
        return Ok(None);
    };
    if sender.is_empty() {
        return Ok(None);
    }
    let qualified = if sender.contains('@') {
        sender.to_string()
    } else {
        format!("{}@{}", sender, ctx.myorigin)
    };
    let check_auth = which != LoginCheck::Unauthenticated;
    let check_unauth = which != LoginCheck::Authenticated;
    match login {
        Some(user) if check_auth => {
            let owned = maps
                .owners(&qualified)?
                .is_some_and(|o| o.iter().any(|n| n.to_lowercase() == user.to_lowercase()));
            Ok((!owned).then(|| {
                format!(
                    "<{}>: Sender address rejected: not owned by user {}",
                    sender, user
                )
            }))
        }
        None if check_unauth => Ok(maps
            .owners(&qualified)?
            .map(|_| format!("<{}>: Sender address rejected: not logged in", sender))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_owners_by_address_then_domain() {
        let spec = "inline:{ alice@a.example=alice, @b.example=bob carol }";
        let maps = LoginMaps(Ok(TableList::open_list(spec).unwrap()));
        assert_eq!(
            maps.owners("Alice@A.example").unwrap(),
            Some(vec!["alice".to_string()])
        );
        assert_eq!(
            maps.owners("x@b.example").unwrap(),
            Some(vec!["bob".to_string(), "carol".to_string()])
        );
        assert_eq!(maps.owners("x@c.example").unwrap(), None);
        let broken = LoginMaps(Err("smtpd_sender_login_maps: no".into()));
        assert!(broken.owners("x@c.example").is_err());
    }
}
