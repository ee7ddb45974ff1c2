//! The delivery status report for address verification (`sendmail -bv`): one message to
//! the sender listing every recipient with `Action: deliverable` or `Action: undeliverable`
//! (RFC 3464), in the layout of Postfix's "Mail Delivery Status Report", with the
//! verification message's headers attached.

use std::time::UNIX_EPOCH;

use super::Failure;
use crate::config::Config;
use crate::log::timefmt;
use crate::queue::Envelope;

/// One verified recipient (`Failure` carries address, original, dsn, text and relay).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub rcpt: Failure,
    pub deliverable: bool,
}

/// Build the report (headers and body, LF line ends). `new_id` names the boundary.
pub fn compose(
    cfg: &Config,
    id: &str,
    new_id: &str,
    env: &Envelope,
    content: &[u8],
    verdicts: &[Verdict],
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
    s.push_str("Subject: Mail Delivery Status Report\n");
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
    s.push_str("Enclosed is the mail delivery report that you requested.\n\n");
    s.push_str("                   The mail system\n\n");
    for v in verdicts {
        s.push_str(&format!("<{}>: {}\n", v.rcpt.address, v.rcpt.text));
    }
    s.push('\n');

    s.push_str(&format!("--{}\n", boundary));
    s.push_str("Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n");
    s.push_str(&format!("Reporting-MTA: dns; {}\n", host));
    s.push_str(&format!("X-Postfix-Queue-ID: {}\n", id));
    s.push_str(&format!("X-Postfix-Sender: rfc822; {}\n", env.sender));
    s.push_str(&format!("Arrival-Date: {}\n", timefmt::rfc2822(arrival)));
    for v in verdicts {
        let f = &v.rcpt;
        s.push_str(&format!("\nFinal-Recipient: rfc822; {}\n", f.address));
        if let Some(o) = &f.original {
            s.push_str(&format!("Original-Recipient: rfc822;{}\n", o));
        }
        s.push_str(if v.deliverable {
            "Action: deliverable\n"
        } else {
            "Action: undeliverable\n"
        });
        s.push_str(&format!("Status: {}\n", f.dsn));
        if f.relay != "none" && f.relay != "local" {
            s.push_str(&format!("Remote-MTA: dns; {}\n", f.relay));
        }
        s.push_str(&format!("Diagnostic-Code: X-Postfix; {}\n", f.text));
    }
    s.push('\n');

    s.push_str(&format!("--{}\n", boundary));
    s.push_str("Content-Description: Message Headers\nContent-Type: text/rfc822-headers\n\n");
    let mut out = s.into_bytes();
    let limit = cfg.int("bounce_size_limit").max(0) as usize;
    let h = super::report::header_block(content);
    let h = &h[..h.len().min(limit)];
    out.extend_from_slice(h);
    if !h.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(format!("\n--{}--\n", boundary).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn verdict(addr: &str, ok: bool, dsn: &str, text: &str) -> Verdict {
        Verdict {
            rcpt: Failure {
                address: addr.into(),
                original: None,
                dsn: dsn.into(),
                text: text.into(),
                relay: "local".into(),
            },
            deliverable: ok,
        }
    }

    #[test]
    fn lists_every_recipient_with_its_action() {
        let cfg = Config::from_pairs(Path::new("/x"), &[("myhostname", "www.a.org")]);
        let env = Envelope::new("me@www.a.org");
        let out = String::from_utf8(compose(
            &cfg,
            "AAA",
            "BBB",
            &env,
            b"Subject: probe\n\n",
            &[
                verdict("u@www.a.org", true, "2.0.0", "delivers to mailbox"),
                verdict("x@www.a.org", false, "5.1.1", "unknown user: \"x\""),
            ],
        ))
        .unwrap();
        assert!(out.contains("Subject: Mail Delivery Status Report\n"));
        assert!(out.contains("report-type=delivery-status"));
        assert!(out.contains("This is the mail system at host www.a.org.\n"));
        assert!(out.contains("<u@www.a.org>: delivers to mailbox\n"));
        assert!(out.contains(
            "Final-Recipient: rfc822; u@www.a.org\nAction: deliverable\nStatus: 2.0.0\n"
        ));
        assert!(out.contains(
            "Final-Recipient: rfc822; x@www.a.org\nAction: undeliverable\nStatus: 5.1.1\n"
        ));
        assert!(out.contains("text/rfc822-headers\n\nSubject: probe\n"));
        assert!(out.ends_with("--\n"));
    }
}
