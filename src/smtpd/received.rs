//! The Received: header smtpd hands to cleanup (RFC 5321 section 4.4 trace field), in
//! Postfix's shape:
//!
//! ```text
//! Received: from HELO (NAME [ADDR])
//!         by MYHOSTNAME (MAIL_NAME) with ESMTP id QUEUEID
//!         for <rcpt>; DATE
//! ```
//! `for` appears only with exactly one recipient. Client-supplied text (HELO, recipient) is
//! made printable so it cannot add header lines.

/// Everything the header states.
pub struct Trace<'a> {
    pub helo: Option<&'a str>,
    pub client_name: &'a str,
    pub client_addr: &'a str,
    pub myhostname: &'a str,
    pub mail_name: &'a str,
    /// The submitting user's uid for the stand-alone server (`sendmail -bs`):
    /// `(MAIL_NAME, from userid N)`.
    pub userid: Option<u32>,
    /// SMTP or ESMTP (ESMTPS/ESMTPA later with TLS/AUTH).
    pub protocol: &'a str,
    pub queue_id: &'a str,
    /// The single recipient, as the client gave it.
    pub single_rcpt: Option<&'a str>,
    pub date: &'a str,
}

fn clean(s: &str) -> String {
    crate::log::lines::printable(s)
}

/// Build the header text, folded with tabs, ending in a newline.
pub fn build(t: &Trace<'_>) -> String {
    let from = t.helo.unwrap_or(t.client_name);
    let addr = match t.client_addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => format!("IPv6:{}", t.client_addr),
        _ => t.client_addr.to_string(),
    };
    let by = match t.userid {
        Some(u) => format!("{}, from userid {}", t.mail_name, u),
        None => t.mail_name.to_string(),
    };
    let mut h = format!(
        "Received: from {} ({} [{}])\n\tby {} ({}) with {} id {}",
        clean(from),
        t.client_name,
        addr,
        t.myhostname,
        by,
        t.protocol,
        t.queue_id
    );
    match t.single_rcpt {
        Some(r) => h.push_str(&format!("\n\tfor <{}>; {}\n", clean(r), t.date)),
        None => h.push_str(&format!(";\n\t{}\n", t.date)),
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace<'a>(helo: Option<&'a str>, rcpt: Option<&'a str>) -> Trace<'a> {
        Trace {
            helo,
            client_name: "localhost.localdomain",
            client_addr: "127.0.0.1",
            myhostname: "www.a.org",
            mail_name: "Postfix",
            userid: None,
            protocol: "SMTP",
            queue_id: "35EC31BB8035",
            single_rcpt: rcpt,
            date: "Thu, 30 Apr 2020 14:56:30 +0800 (CST)",
        }
    }

    #[test]
    fn postfix_shape() {
        assert_eq!(
            build(&trace(Some("localhost"), Some("openstack"))),
            "Received: from localhost (localhost.localdomain [127.0.0.1])\n\tby www.a.org (Postfix) with SMTP id 35EC31BB8035\n\tfor <openstack>; Thu, 30 Apr 2020 14:56:30 +0800 (CST)\n"
        );
        assert_eq!(
            build(&trace(None, None)),
            "Received: from localhost.localdomain (localhost.localdomain [127.0.0.1])\n\tby www.a.org (Postfix) with SMTP id 35EC31BB8035;\n\tThu, 30 Apr 2020 14:56:30 +0800 (CST)\n"
        );
    }

    #[test]
    fn stand_alone_names_the_userid() {
        let mut t = trace(Some("me"), None);
        t.client_name = "localhost";
        t.userid = Some(1000);
        let h = build(&t);
        assert!(
            h.starts_with("Received: from me (localhost [127.0.0.1])\n\tby www.a.org (Postfix, from userid 1000) with SMTP id "),
            "{}",
            h
        );
    }

    #[test]
    fn helo_cannot_inject_lines() {
        let h = build(&trace(Some("x\r\nX-Evil: 1"), None));
        assert_eq!(h.lines().count(), 3);
    }
}
