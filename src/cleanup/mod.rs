//! cleanup: turns a received message into a queue file (Postfix's cleanup(8)). Adds the
//! Received: header given by the caller, and for local clients the missing Message-Id:,
//! Date: and From: headers (at the end of the header block, in that order); enforces
//! hopcount_limit and message_size_limit; applies header_checks/body_checks to mail from
//! smtpd and pickup (`checks`, over the MIME structure from `mime`: REJECT refuses, HOLD
//! queues into hold/, DISCARD drops the message after accepting it, REDIRECT and BCC change
//! the recipients); resolves sender-specified routing through our
//! domains (`user%remote@here`, by crate::rewrite's classes); maps the envelope and the
//! address headers through canonical_maps and masquerading and adds automatic BCC
//! recipients (`addresses`); expands every recipient with
//! $virtual_alias_maps (`virtual_alias`); removes duplicate envelope recipients; writes the
//! file through `queue::Incoming::commit` (file and directory fsynced before it returns, so
//! the caller may then answer 250).
//!
//! Header lines are cut at a NUL and a bare CR in them becomes a space (`headers`), as
//! Postfix stores them; header_size_limit cuts overlong headers.
//!
//! The message is assembled in one buffer with one copy of the content; the queue writer
//! then does a single write and fsync.
//!
//! Stores the message's SMTPUTF8 flags (`crate::smtputf8::settle`).
//!
//! Logs `ID: message-id=<...>` (`<>` when the message has none and none was added), and
//! virtual alias expansion's warnings (see `virtual_alias`).

mod addresses;
mod bcc;
pub mod canonical;
pub mod checks;
mod header_addresses;
pub mod headers;
mod masquerade;
pub mod mime;
pub mod receive;
pub mod virtual_alias;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::time::UNIX_EPOCH;

use crate::config::Config;
use crate::queue::{Envelope, Incoming, Recipient};
use crate::reply::Reply;
use crate::rewrite::Rewrite;

/// A message handed to cleanup.
pub struct Submission {
    pub envelope: Envelope,
    /// Headers and body with LF line ends, dot-unstuffed, without the Received: header.
    pub content: Vec<u8>,
    /// The complete Received: header to prepend (with its folding), if any.
    pub received: Option<String>,
    /// Add missing Message-ID:, Date:, From: (local clients, local submission).
    pub add_missing_headers: bool,
    /// Apply header_checks/body_checks (`checks`): mail from smtpd and pickup, not
    /// notifications or forwarded copies (Postfix's CLEANUP_FLAG_FILTER); not with
    /// `receive_override_options = no_header_body_checks`.
    pub inspect: bool,
    /// Canonical mapping, masquerading, virtual alias expansion and automatic BCC
    /// (Postfix's CLEANUP_FLAG_MAP_OK); not with `no_address_mappings`.
    pub map_addresses: bool,
}

/// Why cleanup refused or failed.
#[derive(Debug)]
pub enum CleanupError {
    Write(io::Error),
    TooManyHops,
    TooBig,
    /// Virtual alias expansion failed (a table error or a limit): try again later.
    Alias(virtual_alias::AliasError),
    /// Content inspection refused the message (`checks`).
    Content(checks::CheckError),
    /// A canonical, masquerade or bcc table could not answer: try again later.
    Lookup(canonical::LookupError),
}

impl CleanupError {
    /// The SMTP reply for this error.
    pub fn reply(&self) -> Reply {
        let write_error = || Reply::with_dsn(451, "4.3.0", "Error: queue file write error");
        match self {
            CleanupError::Write(_) => write_error(),
            CleanupError::TooManyHops => Reply::with_dsn(554, "5.4.0", "Error: too many hops"),
            CleanupError::TooBig => Reply::with_dsn(552, "5.3.4", "Error: message file too big"),
            // As Postfix 2.10: a table error is CLEANUP_STAT_WRITE, a limit
            // CLEANUP_STAT_DEFER with the reason `4.6.0 Alias expansion error`.
            CleanupError::Alias(virtual_alias::AliasError::Lookup) => write_error(),
            CleanupError::Lookup(_) => write_error(),
            CleanupError::Alias(virtual_alias::AliasError::Limit) => {
                Reply::with_dsn(451, "4.6.0", "Alias expansion error")
            }
            CleanupError::Content(e) => e.reply(),
        }
    }
}

impl fmt::Display for CleanupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CleanupError::Write(e) => write!(f, "queue file write error: {}", e),
            CleanupError::TooManyHops => write!(f, "too many hops"),
            CleanupError::TooBig => write!(f, "message file too big"),
            CleanupError::Alias(e) => write!(f, "{}", e),
            CleanupError::Content(e) => write!(f, "{}", e),
            CleanupError::Lookup(e) => write!(f, "{}", e),
        }
    }
}

impl std::error::Error for CleanupError {}

/// What smtpd's access tables decided for the whole message (Postfix's
/// CLEANUP_FLAG_HOLD and CLEANUP_FLAG_DISCARD flags and REC_TYPE_RDR record from smtpd):
/// HOLD queues it in hold/, DISCARD accepts and drops it (any refusal of cleanup's then
/// counts as success, as Postfix's), REDIRECT sends it to that address instead of its
/// recipients (a header/body check REDIRECT wins: Postfix's cleanup writes its record after
/// smtpd's, and the queue manager takes the last).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delegated {
    pub hold: bool,
    pub discard: bool,
    pub redirect: Option<String>,
}

/// Process and durably queue a message; returns its queue ID. Builds the address classes
/// of `cfg` for this message: a caller that holds a `Rewrite` uses `submit_with`.
pub fn submit(cfg: &Config, incoming: Incoming, sub: Submission) -> Result<String, CleanupError> {
    submit_with(cfg, &Rewrite::new(cfg), incoming, sub)
}

/// `submit` with the address classes `rw` of `cfg`, built once by the caller.
pub fn submit_with(
    cfg: &Config,
    rw: &Rewrite,
    incoming: Incoming,
    sub: Submission,
) -> Result<String, CleanupError> {
    submit_as(cfg, rw, incoming, sub, true, &Delegated::default())
}

/// `submit_with` for smtpd, with its access tables' message-wide actions.
pub fn submit_delegated(
    cfg: &Config,
    rw: &Rewrite,
    incoming: Incoming,
    sub: Submission,
    delegated: &Delegated,
) -> Result<String, CleanupError> {
    let id = incoming.id().to_string();
    match submit_as(cfg, rw, incoming, sub, true, delegated) {
        Err(_) if delegated.discard => Ok(id),
        r => r,
    }
}

/// `submit_with` for mail Postern generates (bounces) or forwards internally (local's
/// .forward and aliases): addresses are mapped but no automatic BCC is added, as Postfix's
/// CLEANUP_FLAG_MASK_INTERNAL.
pub fn submit_internal(
    cfg: &Config,
    rw: &Rewrite,
    incoming: Incoming,
    sub: Submission,
) -> Result<String, CleanupError> {
    submit_as(cfg, rw, incoming, sub, false, &Delegated::default())
}

fn submit_as(
    cfg: &Config,
    rw: &Rewrite,
    incoming: Incoming,
    sub: Submission,
    bcc_ok: bool,
    delegated: &Delegated,
) -> Result<String, CleanupError> {
    let id = incoming.id().to_string();
    let Submission {
        mut envelope,
        mut content,
        received,
        add_missing_headers,
        inspect,
        map_addresses,
    } = sub;

    let limit = cfg.int("message_size_limit");
    if limit > 0 && content.len() as u64 > limit as u64 {
        return Err(CleanupError::TooBig);
    }
    let mut scan = headers::scan(&content);
    // No NUL or bare CR is stored in a header line (Postfix cuts and replaces them).
    if let Some(clean) = headers::clean_header_bytes(&content, scan.end) {
        content = clean;
        scan = headers::scan(&content);
    }
    // header_size_limit: the excess of an overlong header is discarded.
    let header_limit = cfg.int("header_size_limit").max(0) as usize;
    if let Some(cut) = headers::limit_header_sizes(&content, scan.end, header_limit) {
        content = cut;
        scan = headers::scan(&content);
    }
    // ... and so is that of a header of a body part or an attached message.
    if let Some(cut) =
        headers::limit_part_header_sizes(&content, mime::Limits::of(cfg), header_limit)
    {
        content = cut;
        scan = headers::scan(&content);
    }
    let hops = scan.hops + usize::from(received.is_some());

    let hop_limit = cfg.int("hopcount_limit");
    if hop_limit > 0 && hops as i64 >= hop_limit {
        return Err(CleanupError::TooManyHops);
    }
    let mut verdict = match inspect {
        true => checks::inspect(cfg, &id, &envelope, received.as_deref(), &content)
            .map_err(CleanupError::Content)?,
        false => checks::Verdict::default(),
    };
    verdict.hold |= delegated.hold;
    verdict.discard |= delegated.discard;
    if verdict.redirect.is_none() {
        verdict.redirect.clone_from(&delegated.redirect);
    }
    let mut received = received;
    if let Some(c) = verdict.content {
        // The inspected content starts with the Received: header.
        content = c;
        received = None;
        scan = headers::scan(&content);
    }
    envelope
        .recipients
        .extend(verdict.bcc.iter().map(|a| Recipient::new(a)));
    // FILTER: this message goes to that content filter (instead of $content_filter).
    if let Some(f) = &verdict.filter {
        envelope.set_attr(crate::queue::FILTER_ATTR, f);
    }

    // Sender-specified routing through our own domains (user%remote@here, host!user@here,
    // "user@remote"@here) is resolved here, as Postfix's cleanup does through
    // trivial-rewrite; the form the client gave stays as the original recipient.
    for r in envelope.recipients.iter_mut() {
        let (routed, _) = rw.unroute(&r.address);
        if routed != r.address {
            if r.orig.is_none() {
                r.orig = Some(r.address.clone());
            }
            r.address = routed;
        }
    }

    // Canonical mapping and masquerading of the envelope and the address headers.
    let origin = addresses::Origin {
        local: add_missing_headers,
        bcc_ok,
        map: map_addresses,
    };
    addresses::rewrite(cfg, rw, &id, &mut envelope, &mut content, scan.end, origin)
        .map_err(CleanupError::Lookup)?;
    scan = headers::scan(&content);

    // Virtual alias expansion (nothing is queued when it fails).
    if map_addresses {
        envelope.recipients = virtual_alias::expand_all(cfg, rw, &id, envelope.recipients)
            .map_err(CleanupError::Alias)?;
    }

    // Duplicate recipients (same address, same original form) are delivered once.
    let mut seen = HashSet::new();
    envelope
        .recipients
        .retain(|r| seen.insert((r.address.to_ascii_lowercase(), r.orig.clone())));
    if let Some(to) = &verdict.redirect {
        checks::redirect(&mut envelope, to);
    }

    let arrival = envelope
        .arrival
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut added = String::new();
    let mut message_id = scan.message_id.clone();
    // always_add_missing_headers: for every client, as Postfix before 2.6.
    if add_missing_headers || cfg.bool("always_add_missing_headers") {
        if scan.message_id.is_none() {
            let mid = format!(
                "<{}.{}@{}>",
                headers::utc_stamp(arrival),
                id,
                cfg.get("myhostname")
            );
            added.push_str(&format!("Message-Id: {}\n", mid));
            message_id = Some(mid);
        }
        if !scan.has_date {
            added.push_str(&format!(
                "Date: {}\n",
                crate::log::timefmt::rfc2822(arrival)
            ));
        }
        if !scan.has_from {
            let from = if envelope.sender.is_empty() {
                "MAILER-DAEMON"
            } else {
                envelope.sender.as_str()
            };
            added.push_str(&format!("From: {}\n", from));
        }
    }

    let (head, body) = content.split_at(scan.end);
    let received = received.unwrap_or_default();
    let mut out = Vec::with_capacity(content.len() + received.len() + added.len() + 1);
    out.extend_from_slice(received.as_bytes());
    out.extend_from_slice(head);
    out.extend_from_slice(added.as_bytes());
    // SMTPUTF8: the flags stored with the message (UTF-8 sender, headers; autodetection).
    crate::smtputf8::settle(cfg, &mut envelope, &out);
    // A body must be separated from the headers by an empty line.
    if !body.is_empty() && body[0] != b'\n' {
        out.push(b'\n');
    }
    out.extend_from_slice(body);
    drop(content);

    crate::log::lines::message_id(&id, message_id.as_deref().unwrap_or("<>"));
    if verdict.discard {
        return Ok(id);
    }
    let mut incoming = incoming;
    if verdict.hold {
        incoming.hold();
    }
    incoming
        .commit(&mut envelope, &out)
        .map_err(CleanupError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{QueueFile, QueueName, Recipient};
    use std::path::Path;

    fn setup(tag: &str) -> (Config, crate::queue::Queue) {
        let dir = std::env::temp_dir().join(format!("postern-cl-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let q = crate::queue::Queue::new(&dir);
        q.create_dirs().unwrap();
        let cfg = Config::from_pairs(
            Path::new("/nonexistent"),
            &[("myhostname", "www.a.org"), ("hopcount_limit", "3")],
        );
        (cfg, q)
    }

    fn envelope(sender: &str) -> Envelope {
        let mut e = Envelope::new(sender);
        e.recipients.push(Recipient::new("u@www.a.org"));
        e.recipients.push(Recipient::new("U@www.a.org"));
        e
    }

    fn read_back(q: &crate::queue::Queue, id: &str) -> (Envelope, String) {
        let mut qf = QueueFile::open(&q.path(QueueName::Incoming, id)).unwrap();
        let c = qf.content().unwrap();
        (qf.envelope.clone(), String::from_utf8(c).unwrap())
    }

    #[test]
    fn routing_through_our_domain_is_resolved_and_the_original_kept() {
        let (cfg, q) = setup("route");
        let inc = q.create(QueueName::Incoming).unwrap();
        let mut env = Envelope::new("a@b.test");
        env.recipients
            .push(Recipient::new("user%remote.test@www.a.org"));
        let sub = Submission {
            envelope: env,
            content: b"x\n".to_vec(),
            received: None,
            add_missing_headers: false,
            inspect: false,
            map_addresses: true,
        };
        let id = submit(&cfg, inc, sub).unwrap();
        let (env, _) = read_back(&q, &id);
        assert_eq!(env.recipients[0].address, "user@remote.test");
        assert_eq!(
            env.recipients[0].orig.as_deref(),
            Some("user%remote.test@www.a.org")
        );
        std::fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn adds_missing_headers_in_order_and_separator() {
        let (cfg, q) = setup("add");
        let inc = q.create(QueueName::Incoming).unwrap();
        let sub = Submission {
            envelope: envelope("obama@w.com"),
            content: b"Subject:How are you these days?\nAre you gua lema?\n".to_vec(),
            received: Some("Received: from x\n\tby y\n".into()),
            add_missing_headers: true,
            inspect: false,
            map_addresses: true,
        };
        let id = submit(&cfg, inc, sub).unwrap();
        let (env, c) = read_back(&q, &id);
        assert_eq!(env.recipients.len(), 1, "duplicate recipient removed");
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines[0], "Received: from x");
        assert_eq!(lines[2], "Subject:How are you these days?");
        assert!(
            lines[3].starts_with("Message-Id: <")
                && lines[3].ends_with(&format!(".{}@www.a.org>", id))
        );
        assert!(lines[4].starts_with("Date: "));
        assert_eq!(lines[5], "From: obama@w.com");
        assert_eq!(lines[6], "");
        assert_eq!(lines[7], "Are you gua lema?");
        std::fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn body_only_and_null_sender_and_no_additions_for_remote() {
        let (cfg, q) = setup("body");
        let inc = q.create(QueueName::Incoming).unwrap();
        let sub = Submission {
            envelope: envelope(""),
            content: b"hello\n".to_vec(),
            received: None,
            add_missing_headers: true,
            inspect: false,
            map_addresses: true,
        };
        let id = submit(&cfg, inc, sub).unwrap();
        let (_, c) = read_back(&q, &id);
        assert!(c.contains("From: MAILER-DAEMON\n\nhello\n"), "{}", c);

        let inc = q.create(QueueName::Incoming).unwrap();
        let sub = Submission {
            envelope: envelope("a@b.test"),
            content: b"Subject: x\n\nbody\n".to_vec(),
            received: None,
            add_missing_headers: false,
            inspect: false,
            map_addresses: true,
        };
        let id = submit(&cfg, inc, sub).unwrap();
        let (_, c) = read_back(&q, &id);
        assert_eq!(c, "Subject: x\n\nbody\n");
        std::fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn too_many_hops_is_refused_and_leaves_nothing() {
        let (cfg, q) = setup("hops");
        let inc = q.create(QueueName::Incoming).unwrap();
        let sub = Submission {
            envelope: envelope("a@b.test"),
            content: b"Received: 1\nReceived: 2\n\nx\n".to_vec(),
            received: Some("Received: 3\n".into()),
            add_missing_headers: false,
            inspect: false,
            map_addresses: true,
        };
        let e = submit(&cfg, inc, sub).unwrap_err();
        assert_eq!(e.reply().to_string(), "554 5.4.0 Error: too many hops");
        // Postfix refuses when the count reaches the limit: 3 of 3 is refused, 2 passes.
        let inc = q.create(QueueName::Incoming).unwrap();
        let sub = Submission {
            envelope: envelope("a@b.test"),
            content: b"Received: 1\n\nx\n".to_vec(),
            received: Some("Received: 2\n".into()),
            add_missing_headers: false,
            inspect: false,
            map_addresses: true,
        };
        let id = submit(&cfg, inc, sub).unwrap();
        std::fs::remove_file(q.path(QueueName::Incoming, &id)).unwrap();
        assert_eq!(
            std::fs::read_dir(q.dir(QueueName::Incoming))
                .unwrap()
                .count(),
            0
        );
        std::fs::remove_dir_all(q.root()).unwrap();
    }

    #[test]
    fn delegated_hold_discard_and_redirect() {
        let (cfg, q) = setup("deleg");
        let rw = Rewrite::new(&cfg);
        let sub = |content: &[u8]| Submission {
            envelope: envelope("a@b.test"),
            content: content.to_vec(),
            received: Some("Received: 1\n".into()),
            add_missing_headers: false,
            inspect: false,
            map_addresses: false,
        };
        // HOLD: the queue file goes to hold/.
        let hold = Delegated {
            hold: true,
            ..Delegated::default()
        };
        let inc = q.create(QueueName::Incoming).unwrap();
        let id = submit_delegated(&cfg, &rw, inc, sub(b"x\n"), &hold).unwrap();
        assert!(q.path(QueueName::Hold, &id).exists());
        // REDIRECT: one recipient, the new address.
        let redirect = Delegated {
            redirect: Some("r@x.test".into()),
            ..Delegated::default()
        };
        let inc = q.create(QueueName::Incoming).unwrap();
        let id = submit_delegated(&cfg, &rw, inc, sub(b"x\n"), &redirect).unwrap();
        let (env, _) = read_back(&q, &id);
        assert_eq!(env.recipients.len(), 1);
        assert_eq!(env.recipients[0].address, "r@x.test");
        // ... unless a header_checks REDIRECT names another address.
        let hc = q.root().join("header_checks");
        std::fs::write(&hc, "/^Subject: redirect/ REDIRECT h@x.test\n").unwrap();
        let hc = format!("regexp:{}", hc.display());
        let cfg2 = Config::from_pairs(Path::new("/nonexistent"), &[("header_checks", &hc)]);
        let inc = q.create(QueueName::Incoming).unwrap();
        let mut s = sub(b"Subject: redirect\n\nx\n");
        s.inspect = true;
        let id = submit_delegated(&cfg2, &rw, inc, s, &redirect).unwrap();
        let (env, _) = read_back(&q, &id);
        assert_eq!(env.recipients.len(), 1);
        assert_eq!(env.recipients[0].address, "h@x.test");
        // DISCARD: success without a queue file, even where cleanup would refuse.
        let discard = Delegated {
            discard: true,
            ..Delegated::default()
        };
        let inc = q.create(QueueName::Incoming).unwrap();
        let hops = b"Received: 2\nReceived: 3\n\nx\n";
        let id = submit_delegated(&cfg, &rw, inc, sub(hops), &discard).unwrap();
        assert!(!q.path(QueueName::Incoming, &id).exists());
        let inc = q.create(QueueName::Incoming).unwrap();
        assert!(submit_delegated(&cfg, &rw, inc, sub(hops), &Delegated::default()).is_err());
        std::fs::remove_dir_all(q.root()).unwrap();
    }
}
