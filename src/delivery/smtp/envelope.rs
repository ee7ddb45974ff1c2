//! The envelope commands the SMTP and LMTP clients send: `MAIL FROM` with SIZE (RFC 1870),
//! BODY=8BITMIME (RFC 6152), RET/ENVID (RFC 3461) and SMTPUTF8 (RFC 6531) as the server's
//! EHLO/LHLO offers them, and one `RCPT TO` per recipient with NOTIFY/ORCPT; and the PIPELINING group
//! (RFC 2920) of those commands and DATA.
//!
//! Security role: the last line of defence against command injection: an address with a
//! control character (a line break would add commands and shift the pipelined replies)
//! makes the whole envelope refused (`Injection`), never sent. Logs nothing.

use super::data;
use crate::queue::Recipient;

/// The message and envelope to send.
pub struct Message<'a> {
    pub sender: &'a str,
    pub content: &'a [u8],
    pub recipients: &'a [Recipient],
    /// DSN RET= (FULL or HDRS) and ENVID= (decoded), from the queue file.
    pub ret: Option<&'a str>,
    pub envid: Option<&'a str>,
    /// The SMTPUTF8 flags of this delivery (`crate::smtputf8::for_delivery`).
    pub smtputf8: u32,
    /// Address verification (Postfix's verify mode): MAIL FROM and RCPT TO only, each
    /// recipient's result the server's reply to RCPT TO; no DATA, nothing delivered.
    pub verify: bool,
}

/// An address held a control character: nothing may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injection;

pub use crate::xtext::encode as xtext;

/// RFC 6533 uxtext as Postfix writes it: printable ASCII but `\\` as is, every other
/// character as `\\x{HEX}`.
pub fn uxtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c != '\\' && ('!'..='~').contains(&c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{{{:02X}}}", c as u32));
        }
    }
    out
}

/// The extension `k` of an EHLO/LHLO reply, with its parameters.
pub fn offered<'e>(ext: &'e [(String, String)], k: &str) -> Option<&'e str> {
    ext.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// Postfix's SMTPUTF8 decision after EHLO/LHLO: the text of the 5.6.7 bounce when this
/// delivery needs SMTPUTF8 (`crate::smtputf8::required`) and the server `namaddr` does not
/// offer it. Logs `host X offers SMTPUTF8 support, but not 8BITMIME` as Postfix does.
pub fn smtputf8_refusal(
    msg: &Message<'_>,
    ext: &[(String, String)],
    namaddr: &str,
    log_name: &str,
) -> Option<String> {
    let utf8 = offered(ext, "SMTPUTF8").is_some();
    if !utf8 && crate::smtputf8::required(msg.smtputf8) {
        return Some(format!(
            "SMTPUTF8 is required, but was not offered by host {}",
            namaddr
        ));
    }
    if utf8 && offered(ext, "8BITMIME").is_none() {
        crate::log::info(
            log_name,
            format!("host {} offers SMTPUTF8 support, but not 8BITMIME", namaddr),
        );
    }
    None
}

/// `MAIL FROM:<...>` and one `RCPT TO:<...>` for each of `which` (indexes into the
/// message's recipients), with the parameters the server offers.
pub fn commands(
    msg: &Message<'_>,
    which: &[usize],
    ext: &[(String, String)],
) -> Result<(String, Vec<String>), Injection> {
    let has = |k: &str| offered(ext, k);
    let dsn = has("DSN").is_some();
    let mut mail = format!("MAIL FROM:<{}>", msg.sender);
    if has("SIZE").is_some() {
        mail.push_str(&format!(" SIZE={}", data::wire_size(msg.content)));
    }
    // Postfix: a server that offers SMTPUTF8 without 8BITMIME gets 8BITMIME anyway.
    if (has("8BITMIME").is_some() || has("SMTPUTF8").is_some()) && data::is_8bit(msg.content) {
        mail.push_str(" BODY=8BITMIME");
    }
    if dsn {
        if let Some(r) = msg.ret {
            mail.push_str(&format!(" RET={}", r.to_ascii_uppercase()));
        }
        if let Some(e) = msg.envid {
            mail.push_str(&format!(" ENVID={}", xtext(e)));
        }
    }
    if has("SMTPUTF8").is_some() && msg.smtputf8 & crate::smtputf8::REQUESTED != 0 {
        mail.push_str(" SMTPUTF8");
    }
    let rcpts: Vec<String> = which
        .iter()
        .map(|&i| rcpt_command(&msg.recipients[i], dsn))
        .collect();
    if std::iter::once(&mail)
        .chain(rcpts.iter())
        .any(|c| c.chars().any(|ch| ch.is_control()))
    {
        return Err(Injection);
    }
    Ok((mail, rcpts))
}

fn rcpt_command(r: &Recipient, dsn: bool) -> String {
    let mut line = format!("RCPT TO:<{}>", r.address);
    if dsn {
        if let Some(n) = &r.notify {
            line.push_str(&format!(" NOTIFY={}", n));
        }
        if let Some(o) = &r.orcpt {
            let (t, a) = o.split_once(';').unwrap_or(("rfc822", o));
            let a = match t.eq_ignore_ascii_case("utf-8") {
                true => uxtext(a),
                false => xtext(a),
            };
            line.push_str(&format!(" ORCPT={};{}", t, a));
        }
    }
    line
}

/// MAIL, the RCPTs and DATA as one pipelined group.
pub fn pipelined(mail: &str, rcpts: &[String], data: bool) -> String {
    let mut group = format!("{}\r\n", mail);
    for r in rcpts {
        group.push_str(r);
        group.push_str("\r\n");
    }
    if data {
        group.push_str("DATA\r\n");
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext_encoding() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("user@example.com"), "user@example.com");
        assert_eq!(xtext("é"), "+C3+A9");
        assert_eq!(uxtext("j\u{f6}rg\\+@x"), "j\\x{F6}rg\\x{5C}+@x");
        let mut r = Recipient::new("a@b");
        r.orcpt = Some("utf-8;j\u{f6}rg@b".into());
        assert_eq!(
            rcpt_command(&r, true),
            "RCPT TO:<a@b> ORCPT=utf-8;j\\x{F6}rg@b"
        );
    }

    #[test]
    fn parameters_follow_the_offer_and_controls_are_refused() {
        let mut r = Recipient::new("a@b");
        r.notify = Some("NEVER".into());
        let rcpts = [r, Recipient::new("c@d")];
        let msg = Message {
            sender: "s@x",
            content: b"x\n",
            recipients: &rcpts,
            ret: Some("hdrs"),
            envid: None,
            smtputf8: 0,
            verify: false,
        };
        let ext = vec![("SIZE".to_string(), String::new())];
        let (mail, rc) = commands(&msg, &[1, 0], &ext).unwrap();
        assert_eq!(mail, "MAIL FROM:<s@x> SIZE=3");
        assert_eq!(rc, ["RCPT TO:<c@d>", "RCPT TO:<a@b>"]);
        let dsn = vec![("DSN".to_string(), String::new())];
        let (mail, rc) = commands(&msg, &[0], &dsn).unwrap();
        assert_eq!(mail, "MAIL FROM:<s@x> RET=HDRS");
        assert_eq!(rc, ["RCPT TO:<a@b> NOTIFY=NEVER"]);
        let bad = [Recipient::new("x@y>\r\nRSET")];
        let m2 = Message {
            recipients: &bad,
            ..msg
        };
        assert_eq!(commands(&m2, &[0], &[]), Err(Injection));
    }

    #[test]
    fn smtputf8_is_sent_when_requested_and_offered() {
        let rcpts = [Recipient::new("j\u{f6}rg@b.test")];
        let msg = Message {
            sender: "s@x",
            content: "S: \u{e9}\n".as_bytes(),
            recipients: &rcpts,
            ret: None,
            envid: None,
            smtputf8: crate::smtputf8::REQUESTED | crate::smtputf8::RECIPIENT,
            verify: false,
        };
        let utf8 = vec![("SMTPUTF8".to_string(), String::new())];
        let (mail, _) = commands(&msg, &[0], &utf8).unwrap();
        assert_eq!(mail, "MAIL FROM:<s@x> BODY=8BITMIME SMTPUTF8");
        let (mail, _) = commands(&msg, &[0], &[]).unwrap();
        assert_eq!(mail, "MAIL FROM:<s@x>");
        let plain = Message { smtputf8: 0, ..msg };
        let (mail, _) = commands(&plain, &[0], &utf8).unwrap();
        assert_eq!(mail, "MAIL FROM:<s@x> BODY=8BITMIME");
    }
}
