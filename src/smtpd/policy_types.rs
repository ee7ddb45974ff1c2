//! The vocabulary shared by the policy modules (`check`, `destination`, `restrict`,
//! `access`): which list a restriction runs in (`Class`), what is known of the session
//! (`Facts`, `Rcpt`), the outcome of a restriction (`Decision`), the kind of a
//! check_*_access restriction (`AccessKind`), and the replies and table-failure handling
//! they all use (Postfix's smtpd_check.c reply formats). A verdict is a `crate::reply::Reply`
//! (code, RFC 3463 DSN, text), never a reply string: `Decision::Reject(Reply)`, and the
//! stage checks answer `Result<(), Reply>`; the session writes its `Display` form on the
//! wire and in the `NOQUEUE: reject:` line. A leaf among the policy modules: it imports
//! none of them (only crate::reply, itself a leaf), so they depend on it and never on each
//! other in a circle.
//!
//! Security role: the reply texts of refusals; a table failure is logged and answered with
//! `451 4.3.0 ... Temporary lookup failure` (never "not found"), a configuration problem
//! with `451 4.3.5 Server configuration error`. Follows postconf(5) reject_code and the
//! `CODE X.Y.Z <NAME>: CLASS rejected: TEXT` form of SMTPD_ACCESS_README.
//!
//! Logs: `NOQUEUE: reject:` / `reject_warning:` / `warn:` (`Facts::log`), `warning: TABLE
//! is unavailable. REASON`, `warning: TABLE lookup error for "KEY"` (`log_table_error`).

use super::ClientInfo;
use crate::log::{self, lines};
use crate::reply::{Dsn, Reply};
use crate::tables::TableError;

/// Which list a restriction runs in: it names the object of a plain `reject` / `defer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Client,
    /// The client's PTR name, not verified (check_reverse_client_hostname_*access).
    ReverseClient,
    Helo,
    Sender,
    Recipient,
    Data,
    /// smtpd_end_of_data_restrictions, after the message's final dot.
    Eod,
    /// A client certificate (check_ccert_access): named by its subject's common name.
    Ccert,
}

impl Class {
    /// The words before "rejected" in a reply.
    pub fn words(self) -> &'static str {
        match self {
            Class::Client => "Client host",
            Class::ReverseClient => "Unverified Client host",
            Class::Helo => "Helo command",
            Class::Sender => "Sender address",
            Class::Recipient => "Recipient address",
            Class::Data => "Data command",
            Class::Eod => "End-of-data",
            Class::Ccert => "Client certificate",
        }
    }

    /// The `<...>` in a reply.
    pub fn name(self, f: &Facts<'_>) -> String {
        match self {
            Class::Client => f.client_log.to_string(),
            Class::ReverseClient => f.client.reverse_name.clone(),
            Class::Helo => f.helo.unwrap_or("").to_string(),
            Class::Sender => f.sender.unwrap_or("").to_string(),
            Class::Recipient => f.rcpt.map(|r| r.given).unwrap_or("").to_string(),
            Class::Data => "DATA".to_string(),
            Class::Eod => "END-OF-MESSAGE".to_string(),
            Class::Ccert => f
                .tls
                .and_then(|t| t.peer.as_ref())
                .map(|p| p.cn.clone())
                .unwrap_or_default(),
        }
    }
}

/// Which kind of access check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    Client,
    /// The unverified PTR name and the address (check_reverse_client_hostname_access).
    ReverseClient,
    Helo,
    Sender,
    Recipient,
}

impl AccessKind {
    /// The list class whose object the check looks up.
    pub fn class(self) -> Class {
        match self {
            AccessKind::Client => Class::Client,
            AccessKind::ReverseClient => Class::ReverseClient,
            AccessKind::Helo => Class::Helo,
            AccessKind::Sender => Class::Sender,
            AccessKind::Recipient => Class::Recipient,
        }
    }

    /// The access check a bare `type:table` stands for in a list of `class` (none in the
    /// DATA list).
    pub fn of_class(class: Class) -> Option<AccessKind> {
        match class {
            Class::Client => Some(AccessKind::Client),
            Class::Helo => Some(AccessKind::Helo),
            Class::Sender => Some(AccessKind::Sender),
            Class::Recipient => Some(AccessKind::Recipient),
            Class::Data | Class::Eod | Class::ReverseClient | Class::Ccert => None,
        }
    }
}

/// A recipient as the client gave it and as qualified with $myorigin.
#[derive(Debug, Clone, Copy)]
pub struct Rcpt<'a> {
    pub given: &'a str,
    pub qualified: &'a str,
}

/// What is known of the session when a list is evaluated.
pub struct Facts<'a> {
    pub client: &'a ClientInfo,
    /// `name[addr]`.
    pub client_log: &'a str,
    pub helo: Option<&'a str>,
    /// The sender as given (None before MAIL; "" is the null sender).
    pub sender: Option<&'a str>,
    pub rcpt: Option<Rcpt<'a>>,
    /// The one recipient accepted so far, if there is just one (DATA log lines name it).
    pub single_rcpt: Option<&'a str>,
    /// How many recipients were accepted so far.
    pub rcpt_count: usize,
    /// What TLS negotiated, when the session is encrypted (STARTTLS or wrapper mode).
    pub tls: Option<&'a super::tls::negotiated::Negotiated>,
    /// The SASL mechanism of the session's login.
    pub sasl_method: Option<&'a str>,
    /// MAIL's AUTH= and SIZE= (at MAIL, RCPT and DATA).
    pub sasl_sender: Option<&'a str>,
    pub size: Option<u64>,
    pub sasl_authenticated: bool,
    /// The SASL login name (reject_*sender_login_mismatch).
    pub sasl_username: Option<&'a str>,
    pub esmtp: bool,
    /// The client pipelined where it may not, now or earlier in the session (sticky).
    pub ill_pipelining: bool,
    /// The SMTP command, for log lines: CONNECT, HELO, MAIL, RCPT, DATA, END-OF-MESSAGE.
    pub stage: &'a str,
    /// The queue ID, once the message has one (END-OF-MESSAGE): log lines and the policy
    /// request carry it.
    pub queue_id: Option<&'a str>,
    /// What access-table actions leave for the transaction (FILTER, HOLD, DISCARD,
    /// REDIRECT, BCC, PREPEND) and the deferred decisions (DEFER_IF_*).
    pub saved: &'a std::cell::RefCell<super::saved::Saved>,
}

impl Facts<'_> {
    pub fn proto(&self) -> &'static str {
        if self.esmtp { "ESMTP" } else { "SMTP" }
    }

    /// Log a NOQUEUE line with `action` (reject, reject_warning, warn).
    pub fn log(&self, action: &str, reply: &str) {
        let r = lines::Reject {
            queue_id: self.queue_id,
            stage: self.stage,
            client: self.client_log,
            reply,
            from: self.sender,
            to: self.rcpt.map(|r| r.given).or(self.single_rcpt),
            proto: self.proto(),
            helo: self.helo,
        };
        if action == "reject" {
            lines::reject(&r);
        } else {
            lines::reject_kind(action, &r);
        }
    }
}

/// The outcome of one restriction or one list.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Permit,
    Dunno,
    Reject(Reply),
}

/// The reply for a server-side problem: `451 4.3.5 Server configuration error`.
pub fn config_error() -> Reply {
    Reply::with_dsn(451, "4.3.5", "Server configuration error")
}

/// `CODE X.DSN <NAME>: CLASS rejected: TEXT`; a DSN at the start of `text` whose class
/// matches the code's replaces the default (`dsn` is the subject and detail, `7.1`).
pub fn reply(code: u16, dsn: &str, name: &str, class: Class, text: &str) -> Reply {
    let given = text
        .split_once(' ')
        .and_then(|(d, rest)| Some((Dsn::parse(d)?, rest)))
        .filter(|(d, _)| Some(d.class()) == crate::reply::Class::of_code(code));
    let full = |t: &str| format!("<{}>: {} rejected: {}", name, class.words(), t);
    match given {
        Some((d, rest)) => Reply::new(code, Some(d), full(rest)),
        None => Reply::with_dsn(code, &format!("{}.{}", code / 100, dsn), &full(text)),
    }
}

/// The reply for a table failure: `451 4.3.0 <NAME>: Temporary lookup failure`.
pub fn temp_lookup_reply(given: &str) -> Reply {
    Reply::with_dsn(
        451,
        "4.3.0",
        &format!("<{}>: Temporary lookup failure", given),
    )
}

/// Raise DEFER_IF_PERMIT (`if_permit`) or DEFER_IF_REJECT with `deferral` for the rest of
/// the transaction; after warn_if_reject a DEFER_IF_PERMIT refuses at once, as Postfix's.
pub fn raise_deferral(f: &Facts<'_>, deferral: Reply, if_permit: bool) -> Decision {
    let mut saved = f.saved.borrow_mut();
    match if_permit {
        true if saved.warn_if_reject => return Decision::Reject(deferral),
        true => saved.defer_if_permit(deferral),
        false => saved.defer_if_reject(deferral),
    }
    Decision::Dunno
}

/// Log a table failure as Postfix does: the table's own warning, then the lookup error.
pub fn log_table_error(e: &TableError, key: &str) {
    log::warning("smtpd", e);
    log::lines::lookup_error("smtpd", e.table(), key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_texts_and_dsn() {
        assert_eq!(
            reply(554, "7.1", "x@y", Class::Recipient, "Access denied").to_string(),
            "554 5.7.1 <x@y>: Recipient address rejected: Access denied"
        );
        assert_eq!(
            reply(550, "7.1", "h[1.2.3.4]", Class::Client, "5.7.0 go away").to_string(),
            "550 5.7.0 <h[1.2.3.4]>: Client host rejected: go away"
        );
        // A DSN of the wrong class is text, not a DSN.
        assert_eq!(
            reply(450, "7.1", "h", Class::Helo, "5.7.0 no").to_string(),
            "450 4.7.1 <h>: Helo command rejected: 5.7.0 no"
        );
    }
}
