//! Content inspection in cleanup (Postfix's header_checks(5) and body_checks(5), as
//! cleanup_message.c applies them): every logical header of the primary header block is
//! looked up in $header_checks, every header of a multipart body part and every MIME header
//! (Content-Type, Content-Transfer-Encoding, Content-Disposition, Content-Description,
//! Content-ID, MIME-Version) anywhere in $mime_header_checks, the other headers of an
//! attached message in $nested_header_checks, and every body line (boundary lines and the
//! blank line after a header block included, part headers not) whose offset in its body
//! part is below $body_checks_size_limit in $body_checks. Multi-line headers are one key
//! with their newlines; `Name :` is looked up as `Name:`. The MIME structure comes from
//! `super::mime`. Only the first matching table entry of a header or line acts.
//!
//! Actions: REJECT (the message is refused: `550 5.7.1 message content rejected` or the
//! given text; a 4.x.x text defers), WARN, INFO, HOLD (queued in hold/), DISCARD (accepted
//! and dropped), REDIRECT (every recipient replaced), BCC (a recipient added; Postfix 3.0),
//! PREPEND, REPLACE, IGNORE, STRIP (3.0), PASS (3.0), DUNNO and OK. REJECT, DISCARD,
//! REDIRECT and PASS end inspection of the message. FILTER `transport:destination` sends
//! the message to that content filter instead of $content_filter (the last FILTER wins, as
//! in Postfix; cleanup records it in the queue file, qmgr routes every recipient there).
//! A table error defers the message.
//! A multipart nested beyond $mime_nesting_limit is rejected (`5.6.0 MIME nesting exceeds
//! safety limit`) when header inspection is configured, as in Postfix.
//!
//! Security role: applies the administrator's content policy to untrusted mail; an error
//! is never a pass. Logs (see `crate::log::lines::cleanup_act`) `ID: reject: header ...`,
//! `warning: ...`, `hold: ...`, `discard: ...`, `redirect: ...`, `bcc: ...`,
//! `prepend: ...`, `replace: ...`, `filter: ...`, and warnings for bad table results.

pub mod action;

use std::fmt;
use std::sync::{Arc, Mutex};

use self::action::Action;
use super::mime::{self, Class, Kind, Limits, Piece};
use crate::config::Config;
use crate::log::lines::{self, CleanupAct};
use crate::queue::Envelope;
use crate::reply::Reply;
use crate::tables::TableList;

/// Why inspection refused the message.
#[derive(Debug)]
pub enum CheckError {
    /// REJECT (or a MIME error): the reason with its status.
    Reject(String),
    /// A table could not be opened or answered (try again later).
    Lookup,
}

impl CheckError {
    /// The SMTP reply, as Postfix's smtpd gives it for cleanup's verdict.
    pub fn reply(&self) -> Reply {
        match self {
            CheckError::Reject(reason) => {
                let code = if reason.starts_with('4') { 451 } else { 550 };
                Reply::parse(&format!("{} {}", code, reason))
                    .unwrap_or_else(|| Reply::with_dsn(550, "5.7.1", "message content rejected"))
            }
            CheckError::Lookup => Reply::with_dsn(451, "4.3.0", "Error: queue file write error"),
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_temporary(&self) -> bool {
        match self {
            CheckError::Reject(r) => r.starts_with('4'),
            _ => true,
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Reject(r) => write!(f, "{}", r),
            CheckError::Lookup => write!(f, "content inspection table lookup problem"),
        }
    }
}

/// What inspection decided for an accepted message.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    /// The content with PREPEND/REPLACE/IGNORE applied; `None` when unchanged.
    pub content: Option<Vec<u8>>,
    pub hold: bool,
    pub discard: bool,
    pub redirect: Option<String>,
    pub bcc: Vec<String>,
    /// FILTER `transport:destination`: the content filter for this message.
    pub filter: Option<String>,
}

/// REDIRECT: the message goes to `to` instead of its recipients (once), the first
/// recipient's address kept as its original recipient.
pub fn redirect(env: &mut Envelope, to: &str) {
    env.recipients.truncate(1);
    for r in env.recipients.iter_mut() {
        if r.orig.is_none() {
            r.orig = Some(r.address.clone());
        }
        r.address = to.to_string();
    }
}

/// The four tables, by parameter.
struct Tables {
    header: Option<Arc<TableList>>,
    mime: Option<Arc<TableList>>,
    nested: Option<Arc<TableList>>,
    body: Option<Arc<TableList>>,
}

/// Tables opened once per process, by parameter value (`postfix reload` with another
/// value opens new ones; an edited file is reloaded by the table itself), so a table
/// file is not parsed again for every message.
static OPENED: Mutex<Vec<(String, Arc<TableList>)>> = Mutex::new(Vec::new());

fn open(cfg: &Config, id: &str, name: &str) -> Result<Option<Arc<TableList>>, CheckError> {
    let value = cfg.get(name).trim();
    if value.is_empty() {
        return Ok(None);
    }
    let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, t)) = opened.iter().find(|(v, _)| v == value) {
        return Ok(Some(t.clone()));
    }
    match TableList::open_list(value) {
        Ok(t) if t.is_empty() => Ok(None),
        Ok(t) => {
            let t = Arc::new(t);
            opened.push((value.to_string(), t.clone()));
            Ok(Some(t))
        }
        Err(e) => {
            crate::log::warning("cleanup", &e);
            lines::cleanup_map_problem(id, name);
            Err(CheckError::Lookup)
        }
    }
}

/// Inspect the message `id`: the Received: header its receiver adds (which header_checks
/// sees first, as in Postfix), then `content` (headers and body, LF line ends), with the
/// tables of `cfg`. A changed content in the verdict includes that Received: header.
/// Nothing is done (and nothing copied) when no table is configured.
pub fn inspect(
    cfg: &Config,
    id: &str,
    env: &Envelope,
    received: Option<&str>,
    content: &[u8],
) -> Result<Verdict, CheckError> {
    let tables = Tables {
        header: open(cfg, id, "header_checks")?,
        mime: open(cfg, id, "mime_header_checks")?,
        nested: open(cfg, id, "nested_header_checks")?,
        body: open(cfg, id, "body_checks")?,
    };
    let any_header = tables.header.is_some() || tables.mime.is_some() || tables.nested.is_some();
    if !any_header && tables.body.is_none() {
        return Ok(Verdict::default());
    }
    let joined;
    let content = match received {
        Some(r) if !r.is_empty() => {
            joined = [r.as_bytes(), content].concat();
            &joined[..]
        }
        _ => content,
    };
    let limits = Limits::of(cfg);
    let origin = match env.attr("client_address") {
        Some(a) => format!("{}[{}]", env.attr("client_name").unwrap_or("unknown"), a),
        None => "local".to_string(),
    };
    let mut ins = Inspector {
        id,
        env,
        origin: &origin,
        content,
        tables,
        body_limit: cfg.int("body_checks_size_limit").max(0) as usize,
        filtering: true,
        out: Vec::with_capacity(content.len() + 256),
        changed: false,
        verdict: Verdict::default(),
        error: None,
    };
    let nesting = mime::walk(content, limits, &mut |p| ins.piece(p));
    if let Some(e) = ins.error {
        return Err(e);
    }
    if let (Some(span), true) = (nesting, any_header) {
        let header = content.get(span).unwrap_or_default();
        let text = String::from_utf8_lossy(header.strip_suffix(b"\n").unwrap_or(header));
        lines::cleanup_mime_error(
            &ins.log("reject", "", &text, ""),
            "MIME nesting exceeds safety limit",
        );
        return Err(CheckError::Reject(
            "5.6.0 MIME nesting exceeds safety limit".into(),
        ));
    }
    if ins.changed {
        ins.verdict.content = Some(ins.out);
    }
    Ok(ins.verdict)
}

/// The headers Postfix's header_opts marks as MIME headers.
const MIME_HEADERS: &[&str] = &[
    "content-description",
    "content-disposition",
    "content-id",
    "content-transfer-encoding",
    "content-type",
    "mime-version",
];

struct Inspector<'a> {
    id: &'a str,
    env: &'a Envelope,
    origin: &'a str,
    content: &'a [u8],
    tables: Tables,
    body_limit: usize,
    filtering: bool,
    out: Vec<u8>,
    changed: bool,
    verdict: Verdict,
    error: Option<CheckError>,
}

impl<'a> Inspector<'a> {
    fn log<'b>(
        &'b self,
        action: &'b str,
        class: &'b str,
        content: &'b str,
        text: &'b str,
    ) -> CleanupAct<'b> {
        let client = self.env.attr("client_address").is_some();
        CleanupAct {
            queue_id: self.id,
            action,
            class,
            content,
            origin: self.origin,
            from: &self.env.sender,
            to: self.env.recipients.last().map(|r| r.address.as_str()),
            proto: self.env.attr("protocol_name").filter(|_| client),
            helo: self.env.attr("helo_name"),
            text,
        }
    }

    /// The table and its parameter name for a piece, when it is to be looked up.
    fn table_for(&self, kind: &Kind, bytes: &[u8]) -> Option<(Arc<TableList>, &'static str)> {
        if !self.filtering {
            return None;
        }
        let class = match kind {
            Kind::Body(offset) => {
                let within = self.body_limit == 0 || *offset < self.body_limit;
                return within
                    .then_some(self.tables.body.as_ref())
                    .flatten()
                    .map(|t| (t.clone(), "body_checks"));
            }
            Kind::Header(c) => *c,
        };
        let n = mime::header_name_len(bytes).unwrap_or(0);
        let name = String::from_utf8_lossy(&bytes[..n]).to_ascii_lowercase();
        if class == Class::Multipart || MIME_HEADERS.contains(&name.as_str()) {
            self.tables
                .mime
                .as_ref()
                .map(|t| (t.clone(), "mime_header_checks"))
        } else if class == Class::Nested {
            self.tables
                .nested
                .as_ref()
                .map(|t| (t.clone(), "nested_header_checks"))
        } else {
            self.tables
                .header
                .as_ref()
                .map(|t| (t.clone(), "header_checks"))
        }
    }

    /// Look one piece up and act; false stops the walk (a refusal).
    fn piece(&mut self, p: Piece) -> bool {
        let bytes = self.content.get(p.span.clone()).unwrap_or_default();
        let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let header = matches!(p.kind, Kind::Header(_));
        let Some((table, title)) = self.table_for(&p.kind, text) else {
            self.out.extend_from_slice(bytes);
            return true;
        };
        let key = if header {
            normalized(text)
        } else {
            String::from_utf8_lossy(text).into_owned()
        };
        match table.lookup(&key) {
            Ok(Some(value)) => self.act(&value, &key, header, bytes, title),
            Ok(None) => {
                self.out.extend_from_slice(bytes);
                true
            }
            Err(e) => {
                crate::log::warning("cleanup", &e);
                lines::cleanup_map_problem(self.id, title);
                self.error = Some(CheckError::Lookup);
                false
            }
        }
    }

    fn act(&mut self, value: &str, key: &str, header: bool, bytes: &[u8], title: &str) -> bool {
        let class = if header { "header" } else { "body" };
        let (action, bad_dsn) = action::parse(value);
        let warn = |m: String| crate::log::warning("cleanup", m);
        let logged = |s: &Self, action: &str, text: &str| {
            lines::cleanup_act(&s.log(action, class, key, text));
        };
        match action {
            Action::Reject(reason) => {
                if bad_dsn {
                    warn(format!(
                        "bad DSN action in {} -- need 4.x.x or 5.x.x",
                        value
                    ));
                }
                logged(self, "reject", &reason);
                self.error = Some(CheckError::Reject(reason));
                return false;
            }
            Action::Filter(t) => {
                if t.is_empty() {
                    warn(format!("missing FILTER command argument in {} map", title));
                } else if !t.contains(':') {
                    warn(format!(
                        "bad FILTER command {} in {} map -- need transport:destination",
                        t, title
                    ));
                } else {
                    logged(self, "filter", &t);
                    self.verdict.filter = Some(t);
                }
            }
            Action::Warn(t) => logged(self, "warning", &t),
            Action::Info(t) => logged(self, "info", &t),
            Action::Pass(t) => {
                logged(self, "pass", &t);
                self.filtering = false;
            }
            Action::Discard(t) => {
                logged(self, "discard", &t);
                self.verdict.discard = true;
                self.filtering = false;
            }
            Action::Hold(t) => {
                if !self.verdict.hold && !self.verdict.discard {
                    logged(self, "hold", &t);
                    self.verdict.hold = true;
                }
            }
            Action::Redirect(t) | Action::Bcc(t) if !t.contains('@') => {
                let what = match action::parse(value).0 {
                    Action::Bcc(_) => "BCC address",
                    _ => "REDIRECT target",
                };
                warn(format!(
                    "bad {} \"{}\" in {} map -- need user@domain",
                    what, t, title
                ));
            }
            Action::Redirect(t) => {
                logged(self, "redirect", &t);
                self.verdict.redirect = Some(t);
                self.filtering = false;
            }
            Action::Bcc(t) => {
                logged(self, "bcc", &t);
                self.verdict.bcc.push(t);
            }
            Action::Prepend(t) => {
                if self.insert("PREPEND", &t, key, header, title) {
                    self.changed = true;
                }
            }
            Action::Replace(t) => {
                if self.insert("REPLACE", &t, key, header, title) {
                    self.changed = true;
                    return true;
                }
            }
            Action::Strip(t) => {
                logged(self, "strip", &t);
                self.changed = true;
                return true;
            }
            Action::Ignore => {
                self.changed = true;
                return true;
            }
            Action::Dunno => {}
            Action::Unknown(v) => warn(format!("unknown command in {} map: {}", title, v)),
        }
        self.out.extend_from_slice(bytes);
        true
    }

    /// PREPEND or REPLACE text (a header for header tables): checked, logged and written
    /// out; false (with a warning) when the text is unusable.
    fn insert(&mut self, word: &str, t: &str, key: &str, header: bool, title: &str) -> bool {
        if t.is_empty() {
            crate::log::warning(
                "cleanup",
                format!("{} action without text in {} map", word, title),
            );
            return false;
        }
        if header && mime::header_name_len(t.as_bytes()).is_none() {
            crate::log::warning(
                "cleanup",
                format!(
                    "bad {} header text \"{}\" in {} map -- need \"headername: headervalue\"",
                    word, t, title
                ),
            );
            return false;
        }
        let class = if header { "header" } else { "body" };
        let action = word.to_ascii_lowercase();
        lines::cleanup_act(&self.log(&action, class, key, t));
        self.out.extend_from_slice(t.as_bytes());
        self.out.push(b'\n');
        true
    }
}

/// A header as Postfix looks it up: `Name : value` becomes `Name: value`.
fn normalized(text: &[u8]) -> String {
    let n = mime::header_name_len(text).unwrap_or(0);
    let colon = text.iter().position(|&b| b == b':').unwrap_or(n);
    let mut key = Vec::with_capacity(text.len());
    key.extend_from_slice(&text[..n]);
    key.extend_from_slice(&text[colon.max(n)..]);
    String::from_utf8_lossy(&key).into_owned()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
