//! The delivery status report for address verification (`sendmail -bv`): one message to
//! the sender listing every recipient with `Action: deliverable` or `Action: undeliverable`
//! (RFC 3464), in the layout of Postfix's "Mail Delivery Status Report", with the
//! verification message's headers attached.

use super::Failure;
use super::report::{Item, Kind, notice};
use crate::config::Config;
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
    let items: Vec<Item<'_>> = verdicts
        .iter()
        .map(|v| Item {
            rcpt: &v.rcpt,
            action: if v.deliverable {
                "deliverable"
            } else {
                "undeliverable"
            },
        })
        .collect();
    notice(cfg, Kind::Verify, id, new_id, env, content, &items)
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
        assert!(
            out.contains(
                "text/rfc822-headers\nContent-Transfer-Encoding: 8bit\n\nSubject: probe\n"
            )
        );
        assert!(out.ends_with("--\n"));
    }
}
