//! Every maillog line format, in one place, as Postfix writes them (see
//! ../shared/reference/postfix-facts.md "Log lines"). Callers pass raw values; client
//! supplied text is made printable here. anvil's statistics (`anvil_lines`) and cleanup's
//! content-inspection lines (`cleanup_lines`) have files of their own and are re-exported.

use std::time::Duration;

use super::{info, timefmt, warning};

pub use super::printable;

pub use super::anvil_lines::{anvil_max_cache, anvil_max_count, anvil_max_rate};
pub use super::cleanup_lines::{CleanupAct, cleanup_act, cleanup_map_problem, cleanup_mime_error};

/// `starting the Postfix mail system` (tag postfix-script).
pub fn starting() {
    info("postfix-script", "starting the Postfix mail system");
}

/// `stopping the Postfix mail system` (tag postfix-script).
pub fn stopping() {
    info("postfix-script", "stopping the Postfix mail system");
}

/// `refreshing the Postfix mail system` (tag postfix-script).
pub fn refreshing() {
    info("postfix-script", "refreshing the Postfix mail system");
}

/// `daemon started -- version V, configuration DIR`.
pub fn daemon_started(version: &str, config_dir: &str) {
    info(
        "master",
        format!(
            "daemon started -- version {}, configuration {}",
            version, config_dir
        ),
    );
}

/// `reload -- version V, configuration DIR`.
pub fn reload(version: &str, config_dir: &str) {
    info(
        "master",
        format!(
            "reload -- version {}, configuration {}",
            version, config_dir
        ),
    );
}

/// `terminating on signal 15`.
pub fn terminating(signal: i32) {
    info("master", format!("terminating on signal {}", signal));
}

/// `/etc/postfix/main.cf, line N: unused parameter: name=value` style warning.
pub fn unused_parameter(component: &str, file: &str, name: &str, value: &str) {
    warning(
        component,
        format!("{}: unused parameter: {}={}", file, name, value),
    );
}

/// `connect from host[addr]`.
pub fn connect(client: &str) {
    info("smtpd", format!("connect from {}", client));
}

/// `disconnect from host[addr] ehlo=1 mail=1 ... commands=N`: `counters` as Postfix 3
/// formats them, with their leading space (smtpd's `cmd_stats`); empty for none.
pub fn disconnect(client: &str, counters: &str) {
    info("smtpd", format!("disconnect from {}{}", client, counters));
}

/// `timeout after STAGE from host[addr]`.
pub fn timeout_after(stage: &str, client: &str) {
    info("smtpd", format!("timeout after {} from {}", stage, client));
}

/// `lost connection after STAGE from host[addr]`.
pub fn lost_connection(stage: &str, client: &str) {
    info(
        "smtpd",
        format!("lost connection after {} from {}", stage, client),
    );
}

/// `improper command pipelining after STAGE from host[addr]: INPUT`, INPUT being the first
/// 100 bytes the client sent ahead, escaped as Postfix's escape() does (fail2ban reads it).
pub fn ill_pipelining(stage: &str, client: &str, pending: &[u8]) {
    let shown = pending.get(..100).unwrap_or(pending);
    info(
        "smtpd",
        format!(
            "improper command pipelining after {} from {}: {}",
            stage,
            client,
            escape(shown)
        ),
    );
}

/// Bytes as C-style escaped text: `\r`, `\n`, `\t`, `\\`, other non-printable or
/// non-ASCII bytes as `\ooo` (octal).
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(b as char),
            _ => out.push_str(&format!("\\{:03o}", b)),
        }
    }
    out
}

/// `too many errors after STAGE from host[addr]`.
pub fn too_many_errors(stage: &str, client: &str) {
    info(
        "smtpd",
        format!("too many errors after {} from {}", stage, client),
    );
}

/// A rejected SMTP command, as smtpd logs it.
pub struct Reject<'a> {
    /// `None` logs `NOQUEUE`.
    pub queue_id: Option<&'a str>,
    /// `RCPT`, `MAIL`, `DATA`, `END-OF-MESSAGE`, ...
    pub stage: &'a str,
    /// `host[addr]`.
    pub client: &'a str,
    /// The full reply, e.g. `451 4.3.0 <x>: Temporary lookup failure`.
    pub reply: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// `SMTP` or `ESMTP`.
    pub proto: &'a str,
    pub helo: Option<&'a str>,
}

/// `NOQUEUE: reject: RCPT from host[addr]: 451 4.3.0 <x>: text; from=<s> to=<r> proto=SMTP helo=<h>`.
pub fn reject(r: &Reject<'_>) {
    reject_kind("reject", r)
}

/// `ID: client=host[addr]`.
pub fn client(queue_id: &str, client: &str) {
    info("smtpd", format!("{}: client={}", queue_id, client));
}

/// `warning: host[addr]: SASL PLAIN authentication failed: REASON, sasl_username=NAME`
/// (smtpd; fail2ban's postfix[mode=auth] filter matches it).
pub fn sasl_failed(client: &str, method: &str, reason: &str, username: Option<&str>) {
    warning(
        "smtpd",
        format!(
            "{}: SASL {} authentication failed: {}, sasl_username={}",
            client,
            method,
            printable(reason),
            printable(username.unwrap_or("(unavailable)"))
        ),
    );
}

/// `ID: client=host[addr], sasl_method=PLAIN, sasl_username=alice, sasl_sender=x` (smtpd;
/// each SASL field only when known).
pub fn client_sasl(
    queue_id: &str,
    client_name: &str,
    method: Option<&str>,
    username: Option<&str>,
    sender: Option<&str>,
) {
    let mut c = client_name.to_string();
    for (name, value) in [
        ("sasl_method", method),
        ("sasl_username", username),
        ("sasl_sender", sender),
    ] {
        if let Some(v) = value {
            c.push_str(&format!(", {}={}", name, v));
        }
    }
    client(queue_id, &c);
}

/// libsasl2's own messages, as Postfix's xsasl_cyrus_log: `warning: SASL authentication
/// failure: ...` (errors), `warning: SASL authentication problem: ...` (warnings), `SASL
/// authentication info: ...` (notes).
pub fn sasl_library(kind: SaslLog, text: &str) {
    let text = printable(text);
    match kind {
        SaslLog::Failure => warning("smtpd", format!("SASL authentication failure: {}", text)),
        SaslLog::Problem => warning("smtpd", format!("SASL authentication problem: {}", text)),
        SaslLog::Info => info("smtpd", format!("SASL authentication info: {}", text)),
    }
}

/// The level of a libsasl2 message (`sasl_library`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslLog {
    Failure,
    Problem,
    Info,
}

/// `warning: host[addr]: SASL LOGIN authentication aborted` (the client sent `*`).
pub fn sasl_aborted(client: &str, method: &str) {
    warning(
        "smtpd",
        format!("{}: SASL {} authentication aborted", client, method),
    );
}

/// `ID: uid=N from=<sender>` (pickup).
pub fn pickup(queue_id: &str, uid: u32, from: &str) {
    info(
        "pickup",
        format!("{}: uid={} from=<{}>", queue_id, uid, printable(from)),
    );
}

/// `ID: message-id=<...>` (cleanup).
pub fn message_id(queue_id: &str, message_id: &str) {
    info(
        "cleanup",
        format!("{}: message-id={}", queue_id, printable(message_id)),
    );
}

/// `ID: from=<s>, size=N, nrcpt=M (queue active)` (qmgr).
pub fn queue_active(queue_id: &str, from: &str, size: u64, nrcpt: usize) {
    info(
        "qmgr",
        format!(
            "{}: from=<{}>, size={}, nrcpt={} (queue active)",
            queue_id,
            printable(from),
            size,
            nrcpt
        ),
    );
}

/// `ID: removed` (qmgr).
pub fn removed(queue_id: &str) {
    info("qmgr", format!("{}: removed", queue_id));
}

/// `ID: from=<s>, status=expired, returned to sender` (qmgr).
pub fn expired(queue_id: &str, from: &str) {
    info(
        "qmgr",
        format!(
            "{}: from=<{}>, status=expired, returned to sender",
            queue_id,
            printable(from)
        ),
    );
}

/// The four `delays=a/b/c/d` parts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delays {
    pub before_active: Duration,
    pub in_active: Duration,
    pub setup: Duration,
    pub transmission: Duration,
}

/// One delivery attempt's result, the most-read Postfix line:
/// `ID: to=<r>, orig_to=<o>, relay=R, delay=D, delays=a/b/c/d, dsn=X.Y.Z, status=S (text)`.
pub struct Delivery<'a> {
    pub component: &'a str,
    pub queue_id: &'a str,
    pub to: &'a str,
    pub orig_to: Option<&'a str>,
    pub relay: &'a str,
    pub delays: Delays,
    pub dsn: &'a str,
    pub status: &'a str,
    pub text: &'a str,
}

/// Log a delivery attempt.
pub fn delivery(d: &Delivery<'_>) {
    let total =
        d.delays.before_active + d.delays.in_active + d.delays.setup + d.delays.transmission;
    let mut line = format!("{}: to=<{}>", d.queue_id, printable(d.to));
    if let Some(o) = d.orig_to
        && o != d.to
    {
        line.push_str(&format!(", orig_to=<{}>", printable(o)));
    }
    line.push_str(&format!(
        ", relay={}, delay={}, delays={}/{}/{}/{}, dsn={}, status={} ({})",
        d.relay,
        timefmt::delay_total(total),
        timefmt::delay_part(d.delays.before_active),
        timefmt::delay_part(d.delays.in_active),
        timefmt::delay_part(d.delays.setup),
        timefmt::delay_part(d.delays.transmission),
        d.dsn,
        d.status,
        printable(d.text)
    ));
    info(d.component, line);
}

/// `ID: sender non-delivery notification: NEWID` (bounce).
pub fn sender_notification(queue_id: &str, new_id: &str) {
    info(
        "bounce",
        format!("{}: sender non-delivery notification: {}", queue_id, new_id),
    );
}

/// `ID: sender delay notification: NEWID` (bounce).
pub fn delay_notification(queue_id: &str, new_id: &str) {
    info(
        "bounce",
        format!("{}: sender delay notification: {}", queue_id, new_id),
    );
}

/// local(8): `warning: alias database loop for NAME`.
pub fn alias_loop(component: &str, name: &str) {
    warning(component, format!("alias database loop for {}", name));
}

/// local(8): `warning: recipient nesting limit exceeded for ADDRESS`.
pub fn recipient_nesting_limit(component: &str, address: &str) {
    warning(
        component,
        format!("recipient nesting limit exceeded for {}", address),
    );
}

/// local(8): `warning: :include: nesting limit exceeded for PATH`.
pub fn include_nesting_limit(component: &str, path: &std::path::Path) {
    warning(
        component,
        format!(":include: nesting limit exceeded for {}", path.display()),
    );
}

/// `warning: TYPE:NAME is unavailable. REASON`.
pub fn table_unavailable(component: &str, table: &str, reason: &str) {
    warning(component, format!("{} is unavailable. {}", table, reason));
}

/// `warning: TYPE:NAME lookup error for "KEY"`.
pub fn lookup_error(component: &str, table: &str, key: &str) {
    warning(
        component,
        format!("{} lookup error for \"{}\"", table, printable(key)),
    );
}

/// A restriction's log-only lines, in the NOQUEUE reject format with another action word:
/// `NOQUEUE: reject_warning: RCPT from host[addr]: 554 ...; from=<s> to=<r> proto=SMTP
/// helo=<h>` (warn_if_reject) and `NOQUEUE: warn: RCPT from ...: text; ...` (access WARN).
pub fn reject_kind(action: &str, r: &Reject<'_>) {
    let mut line = format!(
        "{}: {}: {} from {}: {};",
        r.queue_id.unwrap_or("NOQUEUE"),
        action,
        r.stage,
        r.client,
        printable(r.reply)
    );
    if let Some(f) = r.from {
        line.push_str(&format!(" from=<{}>", printable(f)));
    }
    if let Some(t) = r.to {
        line.push_str(&format!(" to=<{}>", printable(t)));
    }
    line.push_str(&format!(" proto={}", r.proto));
    if let Some(h) = r.helo {
        line.push_str(&format!(" helo=<{}>", printable(h)));
    }
    info("smtpd", line);
}

/// `connect to HOST[IP]:PORT: REASON` (smtp, a failed connection to one server).
pub fn smtp_connect_failed(component: &str, host: &str, ip: &str, port: u16, reason: &str) {
    info(
        component,
        format!(
            "connect to {}[{}]:{}: {}",
            printable(host),
            ip,
            port,
            printable(reason)
        ),
    );
}

/// `warning: not enough free space in mail queue: N bytes < 1.5*message size limit`.
pub fn queue_space_low(available: u64) {
    warning(
        "smtpd",
        format!(
            "not enough free space in mail queue: {} bytes < 1.5*message size limit",
            available
        ),
    );
}

/// `warning: Connection concurrency limit exceeded: 51 from host[addr] for service smtp`
/// (also `Connection rate`, `Message delivery request rate`, `Recipient address rate`).
pub fn limit_exceeded(what: &str, value: u32, client: &str, service: &str) {
    warning(
        "smtpd",
        format!(
            "{} limit exceeded: {} from {} for service {}",
            what, value, client, service
        ),
    );
}

/// `warning: hostname NAME does not resolve to address ADDR` (the forward lookup did not
/// list the client address), or `...: REASON` when the forward lookup failed.
pub fn hostname_unverified(name: &str, addr: &str, reason: Option<&str>) {
    let name = printable(name);
    match reason {
        Some(r) => warning(
            "smtpd",
            format!(
                "hostname {} does not resolve to address {}: {}",
                name, addr, r
            ),
        ),
        None => warning(
            "smtpd",
            format!("hostname {} does not resolve to address {}", name, addr),
        ),
    }
}

/// CHUNKING (issue 12, smtpd/session/bdat): `warning: ID: malformed BDAT command syntax from host[addr]: LINE` (ID: NOQUEUE before
/// the queue file exists; LINE cut to 100 characters as Postfix's `%.100s`).
pub fn bdat_malformed(queue_id: Option<&str>, client: &str, line: &str) {
    let line: String = printable(line).chars().take(100).collect();
    warning(
        "smtpd",
        format!(
            "{}: malformed BDAT command syntax from {}: {}",
            queue_id.unwrap_or("NOQUEUE"),
            client,
            line
        ),
    );
}

/// `warning: ID: null BDAT request from host[addr]`.
pub fn bdat_null(queue_id: Option<&str>, client: &str) {
    warning(
        "smtpd",
        format!(
            "{}: null BDAT request from {}",
            queue_id.unwrap_or("NOQUEUE"),
            client
        ),
    );
}

/// Postfix's three warnings about an access table (or policy server) answer that names a
/// lookup table.
pub fn table_answer_has_table(table: &str, value: &str) {
    warning(
        "smtpd",
        format!(
            "access table {} has entry with lookup table: {}",
            printable(table),
            printable(value)
        ),
    );
    warning(
        "smtpd",
        "do not specify lookup tables inside SMTPD access maps",
    );
    warning(
        "smtpd",
        "define a restriction class and specify its name instead.",
    );
}

/// `warning: problem talking to server SERVER: WHY` (check_policy_service).
pub fn policy_problem(server: &str, why: &str) {
    warning(
        "smtpd",
        format!(
            "problem talking to server {}: {}",
            printable(server),
            printable(why)
        ),
    );
}

/// `warning: QUERY: RBL lookup error: WHY` (a DNS list that could not be asked).
pub fn rbl_lookup_error(query: &str, why: &str) {
    warning(
        "smtpd",
        format!("{}: RBL lookup error: {}", printable(query), printable(why)),
    );
}

/// `warning: rbl_reject_reply: bad rbl reply template for domain D: T` (an rbl_reply_maps
/// entry naming an unknown macro; default_rbl_reply is used instead).
pub fn rbl_bad_template(domain: &str, template: &str) {
    warning(
        "smtpd",
        format!(
            "rbl_reject_reply: bad rbl reply template for domain {}: {}",
            printable(domain),
            printable(template)
        ),
    );
}

/// `warning: rbl response code configuration error: TEXT` (a DNS list reply template
/// whose expansion has no 4xx/5xx code; the client gets `450 4.7.1 Service unavailable`).
pub fn rbl_code_error(text: &str) {
    warning(
        "smtpd",
        format!("rbl response code configuration error: {}", printable(text)),
    );
}

/// `warning: unknown macro name "NAME" in expansion request` (a reply template).
pub fn unknown_macro(name: &str) {
    warning(
        "smtpd",
        format!(
            "unknown macro name \"{}\" in expansion request",
            printable(name)
        ),
    );
}

/// `warning: ID: BDAT request from host[addr] exceeds message size limit`.
pub fn bdat_too_big(queue_id: Option<&str>, client: &str) {
    warning(
        "smtpd",
        format!(
            "{}: BDAT request from {} exceeds message size limit",
            queue_id.unwrap_or("NOQUEUE"),
            client
        ),
    );
}

/// `warning: ID: queue file size limit exceeded` (a message over $message_size_limit).
pub fn queue_file_size_exceeded(queue_id: &str) {
    warning(
        "smtpd",
        format!("{}: queue file size limit exceeded", queue_id),
    );
}

/// What a rehash moved (postsuper -s, and the master at start, each as itself).
pub fn rehashed(moved: usize) -> String {
    format!(
        "moved {} queue file(s) to match hash_queue_names and hash_queue_depth",
        moved
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_strips_newlines() {
        assert_eq!(printable("a\r\nb"), "a??b");
    }

    #[test]
    fn escape_as_postfix() {
        assert_eq!(
            escape(b"EHLO x\r\n\t\\\xff\x01"),
            "EHLO x\\r\\n\\t\\\\\\377\\001"
        );
    }
}
