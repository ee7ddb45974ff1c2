//! The SASL server: smtpd_sasl_type = cyrus, a safe API over Cyrus libsasl2, which checks
//! passwords itself, typically through saslauthd (`pwcheck_method: saslauthd`), or
//! smtpd_sasl_type = dovecot, Dovecot's auth socket (`dovecot`, pure Rust). RFC 4422
//! (SASL) and RFC 4954 (SMTP AUTH) as Postfix's xsasl_cyrus_server.c implements them:
//! `Sasl::setup` once per configuration (libsasl2's global init once per process),
//! `Sasl::session` per SMTP session, `Session::start`/`step` for the exchange.
//!
//! Security role: the password check. A failure's reason is libsasl2's text for the status
//! (`sasl_errstring`), with "no such user" reported as "authentication failure" (privacy, as
//! Postfix); libsasl2's SASL_FAIL/NOMEM/TRYAGAIN/UNAVAIL (e.g. saslauthd down) are
//! temporary. No security layer is negotiated (max_ssf 0). All unsafe code is in `ffi`.
//!
//! Logs: libsasl2's messages (`warning: SASL authentication failure: ...`, `warning: SASL
//! authentication problem: ...`, `SASL authentication info: ...`); the smtpd logs the
//! outcome of AUTH itself.

pub mod base64;
pub mod conf;
pub mod dovecot;
mod ffi;

use std::ffi::c_int;
use std::fmt;

use sasl2_sys::prelude as sys;

pub use conf::SaslConf;

/// Why SASL could not be set up or a session started.
#[derive(Debug, Clone, PartialEq)]
pub enum SaslError {
    /// The configuration file could not be read.
    Config(String),
    /// A bad $smtpd_sasl_security_options word.
    SecurityOption(String),
    /// libsasl2 refused (what it was doing, its text).
    Library(&'static str, String),
    /// No mechanism is left once the security options are applied.
    NoMechanisms,
    /// Dovecot's auth socket could not be used.
    Dovecot(dovecot::DovecotError),
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslError::Config(e) => write!(f, "SASL configuration: {}", e),
            SaslError::SecurityOption(w) => {
                write!(f, "unknown SASL security option: \"{}\"", w)
            }
            SaslError::Library(what, e) => write!(f, "SASL {}: {}", what, e),
            SaslError::NoMechanisms => write!(f, "no SASL authentication mechanisms"),
            SaslError::Dovecot(e) => e.fmt(f),
        }
    }
}

/// The outcome of one step of an exchange.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Authenticated.
    Done,
    /// A challenge to send (raw bytes; base64-encode for the 334 reply).
    Challenge(Vec<u8>),
    /// Refused: the reason text; `temporary` for 454 rather than 535.
    Failed { temporary: bool, reason: String },
}

/// `smtpd_sasl_security_options` words as libsasl2 security flags.
pub fn security_flags(words: &str) -> Result<u32, SaslError> {
    let mut flags = 0;
    for w in words
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        flags |= match w.to_ascii_lowercase().as_str() {
            "noplaintext" => sys::SASL_SEC_NOPLAINTEXT,
            "noactive" => sys::SASL_SEC_NOACTIVE,
            "nodictionary" => sys::SASL_SEC_NODICTIONARY,
            "noanonymous" => sys::SASL_SEC_NOANONYMOUS,
            "forward_secrecy" => sys::SASL_SEC_FORWARD_SECRECY,
            "mutual_auth" => sys::SASL_SEC_MUTUAL_AUTH,
            _ => return Err(SaslError::SecurityOption(w.to_string())),
        };
    }
    Ok(flags)
}

/// The process-wide SASL server for one configuration.
#[derive(Debug, Clone)]
pub struct Sasl {
    /// The configuration file in use and its options.
    pub conf: SaslConf,
    /// $smtpd_sasl_service (the service name given to libsasl2, "smtp").
    service: String,
    fqdn: String,
    realm: Option<String>,
    /// The options given to libsasl2 for this configuration's connections.
    options: std::sync::Arc<ffi::OptionSet>,
    /// smtpd_sasl_type = dovecot: the auth socket (no libsasl2 then).
    dovecot: Option<std::path::PathBuf>,
}

/// What a session needs from the SMTP layer.
pub struct SessionArgs<'a> {
    /// $smtpd_sasl_security_options or, with TLS, $smtpd_sasl_tls_security_options.
    pub security_options: &'a str,
    /// `addr;port` of the server and client ends (for mechanisms that use them).
    pub local: Option<String>,
    pub remote: Option<String>,
    /// The client's address (Dovecot's `rip`).
    pub client_addr: String,
    /// Over TLS (Dovecot's `secured`).
    pub secured: bool,
}

impl Sasl {
    /// Load the application configuration ($smtpd_sasl_path.conf) and initialize libsasl2
    /// (once per process; a later configuration only replaces the options).
    pub fn setup(cfg: &crate::config::Config) -> Result<Sasl, SaslError> {
        let conf = conf::load(cfg).map_err(|e| SaslError::Config(e.to_string()))?;
        // libsasl2 fails its init if the GETCONFPATH callback has no answer: without a file
        // of ours it gets the directories where none was found.
        let confpath = conf.dir().unwrap_or_else(|| conf::search_path(cfg));
        ffi::set_options(&conf.options, Some(&confpath));
        ffi::server_init(cfg.get("smtpd_sasl_path").trim())
            .map_err(|rc| SaslError::Library("per-process initialization", ffi::errstring(rc)))?;
        let realm = cfg.get("smtpd_sasl_local_domain").trim();
        Ok(Sasl {
            service: match cfg.get("smtpd_sasl_service").trim() {
                "" => "smtp".to_string(),
                s => s.to_string(),
            },
            fqdn: cfg.get("myhostname").to_string(),
            realm: (!realm.is_empty()).then(|| realm.to_string()),
            options: std::sync::Arc::new(ffi::OptionSet::new(&conf.options)),
            conf,
            dovecot: None,
        })
    }

    /// smtpd_sasl_type = dovecot: the socket smtpd_sasl_path names, relative to
    /// $queue_directory unless absolute (Postfix's `private/auth`). No libsasl2.
    pub fn setup_dovecot(cfg: &crate::config::Config) -> Sasl {
        let path = std::path::Path::new(cfg.get("queue_directory"))
            .join(cfg.get("smtpd_sasl_path").trim());
        Sasl {
            conf: SaslConf::default(),
            service: String::new(),
            fqdn: String::new(),
            realm: None,
            options: std::sync::Arc::new(ffi::OptionSet::new(&[])),
            dovecot: Some(path),
        }
    }

    /// A new server connection for one SMTP session, with its mechanism list.
    pub fn session(&self, a: &SessionArgs<'_>) -> Result<Session, SaslError> {
        let flags = security_flags(a.security_options)?;
        if let Some(path) = &self.dovecot {
            let client = dovecot::Client::connect(
                path,
                flags & sys::SASL_SEC_NOPLAINTEXT != 0,
                flags & sys::SASL_SEC_NOANONYMOUS != 0,
            )
            .map_err(SaslError::Dovecot)?;
            let mechs = client.mechanisms();
            if mechs.is_empty() {
                return Err(SaslError::NoMechanisms);
            }
            return Ok(Session {
                raw: Backend::Dovecot {
                    client,
                    rip: a.client_addr.clone(),
                    secured: a.secured,
                    user: None,
                },
                mechs,
            });
        }
        let mut raw = ffi::RawConn::new(
            &ffi::NewArgs {
                service: &self.service,
                fqdn: &self.fqdn,
                realm: self.realm.as_deref(),
                local: a.local.as_deref(),
                remote: a.remote.as_deref(),
            },
            self.options.clone(),
        )
        .map_err(|rc| SaslError::Library("per-connection initialization", ffi::errstring(rc)))?;
        raw.set_security(flags, 0).map_err(|rc| {
            SaslError::Library("per-connection security setup", ffi::errstring(rc))
        })?;
        let mechs = raw
            .listmech()
            .map_err(|rc| SaslError::Library("mechanism list", ffi::errstring(rc)))?;
        if mechs.split_whitespace().next().is_none() {
            return Err(SaslError::NoMechanisms);
        }
        Ok(Session {
            raw: Backend::Cyrus(raw),
            mechs,
        })
    }
}

/// One session's connection to the password checker.
enum Backend {
    Cyrus(ffi::RawConn),
    Dovecot {
        client: dovecot::Client,
        rip: String,
        secured: bool,
        /// The name Dovecot authenticated.
        user: Option<String>,
    },
}

/// One session's SASL server connection.
pub struct Session {
    raw: Backend,
    mechs: String,
}

impl Session {
    /// The mechanisms offered, space-separated, as libsasl2 lists them (e.g. "PLAIN LOGIN").
    pub fn mechanisms(&self) -> &str {
        &self.mechs
    }

    /// Start an exchange with `mech` and the decoded initial response, if any.
    pub fn start(&mut self, mech: &str, initial: Option<&[u8]>) -> Step {
        match &mut self.raw {
            Backend::Cyrus(raw) => {
                let (rc, out) = raw.start(mech, initial);
                outcome(rc, out)
            }
            Backend::Dovecot {
                client,
                rip,
                secured,
                user,
            } => {
                let r = client.start(mech, initial, rip, *secured);
                dovecot_step(r, user)
            }
        }
    }

    /// Continue the exchange with the client's decoded response.
    pub fn step(&mut self, response: &[u8]) -> Step {
        match &mut self.raw {
            Backend::Cyrus(raw) => {
                let (rc, out) = raw.step(response);
                outcome(rc, out)
            }
            Backend::Dovecot { client, user, .. } => dovecot_step(client.step(response), user),
        }
    }

    /// The user name the checker settled on (after success; libsasl2 also the one tried).
    pub fn username(&self) -> Option<String> {
        match &self.raw {
            Backend::Cyrus(raw) => raw.username(),
            Backend::Dovecot { user, .. } => user.clone(),
        }
    }
}

/// The reason text for a malformed (undecodable) response, as Postfix gives it.
pub fn bad_protocol() -> String {
    ffi::errstring(sys::SASL_BADPROT)
}

fn dovecot_step(r: dovecot::Reply, user: &mut Option<String>) -> Step {
    match r {
        dovecot::Reply::Ok(u) => {
            *user = Some(u);
            Step::Done
        }
        dovecot::Reply::Cont(c) => Step::Challenge(c),
        dovecot::Reply::Fail { temporary, reason } => Step::Failed { temporary, reason },
    }
}

fn outcome(rc: c_int, out: Vec<u8>) -> Step {
    match rc {
        sys::SASL_OK => Step::Done,
        sys::SASL_CONTINUE => Step::Challenge(out),
        _ => {
            let rc = if rc == sys::SASL_NOUSER {
                sys::SASL_BADAUTH
            } else {
                rc
            };
            Step::Failed {
                temporary: matches!(
                    rc,
                    sys::SASL_FAIL | sys::SASL_NOMEM | sys::SASL_TRYAGAIN | sys::SASL_UNAVAIL
                ),
                reason: ffi::errstring(rc),
            }
        }
    }
}

/// A libsasl2 log message at Postfix's levels (xsasl_cyrus_log); debug levels are dropped.
fn log_library(level: c_int, text: &str) {
    use crate::log::lines::{SaslLog, sasl_library};
    match level {
        sys::SASL_LOG_ERR | sys::SASL_LOG_FAIL => sasl_library(SaslLog::Failure, text),
        sys::SASL_LOG_WARN => sasl_library(SaslLog::Problem, text),
        sys::SASL_LOG_NOTE => sasl_library(SaslLog::Info, text),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_options() {
        assert_eq!(
            security_flags("noanonymous, noplaintext").unwrap(),
            sys::SASL_SEC_NOANONYMOUS | sys::SASL_SEC_NOPLAINTEXT
        );
        assert_eq!(security_flags("").unwrap(), 0);
        assert!(matches!(
            security_flags("noanonymous bogus"),
            Err(SaslError::SecurityOption(w)) if w == "bogus"
        ));
    }

    #[test]
    fn failures_as_postfix_reports_them() {
        assert_eq!(
            outcome(sys::SASL_NOUSER, vec![]),
            Step::Failed {
                temporary: false,
                reason: "authentication failure".into()
            }
        );
        assert!(matches!(
            outcome(sys::SASL_UNAVAIL, vec![]),
            Step::Failed {
                temporary: true,
                ..
            }
        ));
        assert_eq!(
            outcome(sys::SASL_CONTINUE, b"x".to_vec()),
            Step::Challenge(b"x".to_vec())
        );
        assert_eq!(outcome(sys::SASL_OK, vec![]), Step::Done);
    }
}
