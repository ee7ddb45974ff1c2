//! The text of a non-delivery notification.

use std::time::UNIX_EPOCH;

use super::Failure;
use crate::config::Config;
use crate::log::timefmt;
use crate::queue::Envelope;

/// Which notice: a non-delivery notification, a delay warning, or a verification report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Failure,
    Delay,
    Verify,
}

/// One recipient in a notice, with its RFC 3464 Action (`failed`, `delayed`,
/// `deliverable`, `undeliverable`).
pub struct Item<'a> {
    pub rcpt: &'a Failure,
    pub action: &'a str,
}

impl Kind {
    fn subject(self) -> &'static str {
        match self {
            Kind::Failure => "Undelivered Mail Returned to Sender",
            Kind::Delay => "Delayed Mail (still being retried)",
            Kind::Verify => "Mail Delivery Status Report",
        }
    }

    fn intro(self, host: &str) -> String {
        match self {
            Kind::Failure => format!(
                "Your message could not be delivered to one or more of its recipients.\n\
                 The reasons are listed below, and the message is attached.\n\n\
                 Questions about this report can go to the postmaster of {}.\n",
                host
            ),
            Kind::Delay => {
                "This is a warning only: you do not need to send your message again.\n\n\
                 Your message has not yet been delivered to the recipients below. Delivery\n\
                 will be tried again until the message expires.\n"
                    .to_string()
            }
            Kind::Verify => {
                "Enclosed is the mail delivery report that you requested.\n".to_string()
            }
        }
    }
}

/// Build a non-delivery notification (headers and body, LF line ends). `new_id` names the
/// boundary.
pub fn compose(
    cfg: &Config,
    id: &str,
    new_id: &str,
    env: &Envelope,
    content: &[u8],
    failures: &[Failure],
) -> Vec<u8> {
    let items: Vec<Item<'_>> = failures
        .iter()
        .map(|f| Item {
            rcpt: f,
            action: "failed",
        })
        .collect();
    notice(cfg, Kind::Failure, id, new_id, env, content, &items)
}

/// Build any notice: multipart/report (RFC 3462) with a text part, a message/delivery-status
/// part (RFC 3464; message/global-delivery-status for SMTPUTF8 mail, RFC 6533) and the
/// original message (failures, unless RET=HDRS or beyond
/// bounce_size_limit) or its headers (delay warnings and verification reports).
pub fn notice(
    cfg: &Config,
    kind: Kind,
    id: &str,
    new_id: &str,
    env: &Envelope,
    content: &[u8],
    items: &[Item<'_>],
) -> Vec<u8> {
    let host = cfg.get("myhostname");
    let now = timefmt::now_secs();
    let boundary = format!("{}.{}/{}", new_id, now, host);
    let arrival = env
        .arrival
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(now);
    let mut s = String::new();
    s.push_str(&format!(
        "From: MAILER-DAEMON@{} (Mail Delivery System)\n",
        host
    ));
    s.push_str(&format!("To: {}\n", env.sender));
    s.push_str(&format!("Subject: {}\n", kind.subject()));
    s.push_str("Auto-Submitted: auto-replied\n");
    s.push_str("MIME-Version: 1.0\n");
    s.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"{}\"\n",
        boundary
    ));
    s.push_str("Content-Transfer-Encoding: 8bit\n\n");
    s.push_str("This is a MIME-encapsulated message.\n\n");

    s.push_str(&format!("--{}\n", boundary));
    s.push_str("Content-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n");
    s.push_str(&format!("This is the mail system at host {}.\n\n", host));
    s.push_str(&kind.intro(host));
    s.push_str("\n                   The mail system\n\n");
    for i in items {
        s.push_str(&format!("<{}>: {}\n", i.rcpt.address, i.rcpt.text));
    }
    s.push('\n');

    // RFC 6533 for a message that requested SMTPUTF8: message/global-delivery-status and
    // message/global(-headers), and `utf-8` address types for UTF-8 addresses (Postfix).
    let utf8 = crate::smtputf8::stored(&env.attrs);
    let global = utf8 & crate::smtputf8::REQUESTED != 0;
    let kind_of = |a: &str| match utf8 != 0 && crate::smtputf8::is_utf8(a) {
        true => "utf-8",
        false => "rfc822",
    };
    s.push_str(&format!("--{}\n", boundary));
    s.push_str(match global {
        true => "Content-Description: Delivery report\nContent-Type: message/global-delivery-status\nContent-Transfer-Encoding: 8bit\n\n",
        false => "Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n",
    });
    s.push_str(&format!("Reporting-MTA: dns; {}\n", host));
    s.push_str(&format!("X-Postfix-Queue-ID: {}\n", id));
    s.push_str(&format!(
        "X-Postfix-Sender: {}; {}\n",
        kind_of(&env.sender),
        env.sender
    ));
    if let Some(envid) = env.attr("envid") {
        s.push_str(&format!("Original-Envelope-Id: {}\n", envid));
    }
    s.push_str(&format!("Arrival-Date: {}\n", timefmt::rfc2822(arrival)));
    for i in items {
        let f = i.rcpt;
        s.push_str(&format!(
            "\nFinal-Recipient: {}; {}\n",
            kind_of(&f.address),
            f.address
        ));
        if let Some(o) = &f.original {
            s.push_str(&format!("Original-Recipient: {};{}\n", kind_of(o), o));
        }
        s.push_str(&format!("Action: {}\n", i.action));
        s.push_str(&format!("Status: {}\n", f.dsn));
        if f.relay != "none" && f.relay != "local" {
            s.push_str(&format!("Remote-MTA: dns; {}\n", f.relay));
        }
        s.push_str(&format!("Diagnostic-Code: X-Postfix; {}\n", f.text));
    }
    s.push('\n');

    let limit = cfg.int("bounce_size_limit").max(0) as usize;
    let headers_only = kind != Kind::Failure
        || env
            .attr("ret")
            .is_some_and(|r| r.eq_ignore_ascii_case("HDRS"))
        || content.len() > limit;
    let (part, description, returned) = if headers_only {
        // Never more than bounce_size_limit, so cleanup's size limit cannot refuse the
        // notification (a "header block" without a blank line could be the whole message).
        let h = crate::message::header_block(content);
        let d = if kind == Kind::Verify {
            "Message Headers"
        } else {
            "Undelivered Message Headers"
        };
        let t = if global {
            "message/global-headers"
        } else {
            "text/rfc822-headers"
        };
        (t, d, &h[..h.len().min(limit)])
    } else {
        let t = if global {
            "message/global"
        } else {
            "message/rfc822"
        };
        (t, "Undelivered Message", content)
    };
    s.push_str(&format!("--{}\n", boundary));
    s.push_str(&format!("Content-Description: {}\n", description));
    s.push_str(&format!(
        "Content-Type: {}\nContent-Transfer-Encoding: 8bit\n\n",
        part
    ));
    let mut out = s.into_bytes();
    out.extend_from_slice(returned);
    if !returned.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(format!("\n--{}--\n", boundary).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn report_has_three_parts_and_dsn_fields() {
        let cfg = Config::from_pairs(Path::new("/x"), &[("myhostname", "www.a.org")]);
        let mut env = Envelope::new("a@yahoo.com");
        env.recipients
            .push(crate::queue::Recipient::new("jerry@qq.com"));
        let f = Failure {
            address: "jerry@qq.com".into(),
            original: None,
            dsn: "5.1.1".into(),
            text: "unknown user: \"jerry\"".into(),
            relay: "local".into(),
        };
        let out = String::from_utf8(compose(
            &cfg,
            "DD3901BB8035",
            "28B821BB803A",
            &env,
            b"Subject: hi\n\nhello\n",
            &[f],
        ))
        .unwrap();
        assert!(out.starts_with(
            "From: MAILER-DAEMON@www.a.org (Mail Delivery System)\nTo: a@yahoo.com\n"
        ));
        assert!(out.contains("Subject: Undelivered Mail Returned to Sender\n"));
        assert!(out.contains("This is the mail system at host www.a.org.\n"));
        assert!(out.contains("<jerry@qq.com>: unknown user: \"jerry\"\n"));
        assert!(
            out.contains("Final-Recipient: rfc822; jerry@qq.com\nAction: failed\nStatus: 5.1.1\n")
        );
        assert!(out.contains("Content-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\nSubject: hi\n\nhello\n"));
        assert_eq!(
            out.matches("--28B821BB803A.").count(),
            4,
            "three part boundaries and the closing one"
        );
        assert!(out.ends_with("--\n"));
    }

    /// RFC 6533 parts for a message that requested SMTPUTF8 (Postfix's bounce daemon).
    #[test]
    fn smtputf8_messages_get_global_parts_and_utf8_address_types() {
        let cfg = Config::from_pairs(Path::new("/x"), &[("myhostname", "www.a.org")]);
        let mut env = Envelope::new("s\u{e9}nder@b.test");
        env.set_attr(crate::smtputf8::ATTR, "5");
        let f = |a: &str| Failure {
            address: a.into(),
            original: None,
            dsn: "5.6.7".into(),
            text: "SMTPUTF8 is required".into(),
            relay: "none".into(),
        };
        let failures = [f("j\u{f6}rg@c.test"), f("plain@c.test")];
        let out = compose(&cfg, "A1", "B2", &env, b"Subject: x\n\nhi\n", &failures);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains(
            "Content-Type: message/global-delivery-status\nContent-Transfer-Encoding: 8bit\n"
        ));
        assert!(out.contains("X-Postfix-Sender: utf-8; s\u{e9}nder@b.test\n"));
        assert!(out.contains("Final-Recipient: utf-8; j\u{f6}rg@c.test\n"));
        assert!(out.contains("Final-Recipient: rfc822; plain@c.test\n"));
        assert!(out.contains("Content-Type: message/global\nContent-Transfer-Encoding: 8bit\n"));
        // Not requested: the classic types, even with a UTF-8 sender flag.
        env.set_attr(crate::smtputf8::ATTR, "4");
        let out = compose(&cfg, "A1", "B2", &env, b"Subject: x\n\nhi\n", &failures);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("Content-Type: message/delivery-status\n\n"));
        assert!(out.contains("Content-Type: message/rfc822\n"));
        assert!(out.contains("X-Postfix-Sender: utf-8; s\u{e9}nder@b.test\n"));
    }

    #[test]
    fn headers_only_when_asked_or_too_big() {
        let cfg = Config::from_pairs(Path::new("/x"), &[("bounce_size_limit", "10")]);
        let env = Envelope::new("a@b");
        let f = Failure {
            address: "x@y".into(),
            original: None,
            dsn: "5.0.0".into(),
            text: "t".into(),
            relay: "none".into(),
        };
        let out = String::from_utf8(compose(
            &cfg,
            "A",
            "B",
            &env,
            b"Subject: s\n\nlong body text\n",
            &[f],
        ))
        .unwrap();
        assert!(out.contains("Content-Type: text/rfc822-headers"));
        assert!(!out.contains("long body text"));
        // Returned headers are cut at the limit too, so cleanup's size limit cannot refuse
        // the notification.
        let big = format!("X-Long: {}\n\nbody\n", "x".repeat(100));
        let out = String::from_utf8(compose(&cfg, "A", "B", &env, big.as_bytes(), &[])).unwrap();
        assert!(out.contains("\n\nX-Long: xx\n"), "{}", out);
        assert!(!out.contains("xxx"));
        // Text without a header block returns no headers at all.
        let out = String::from_utf8(compose(&cfg, "A", "B", &env, &[b'x'; 100], &[])).unwrap();
        assert!(!out.contains("xxxxxxxxxx"), "{}", out);
    }
}
