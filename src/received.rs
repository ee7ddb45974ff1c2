//! The Received: header (RFC 5321 section 4.4 trace field) in Postfix's two shapes: the
//! one smtpd(8) hands to cleanup, and pickup(8)'s for local submissions. This is the one
//! builder of both, and the envelope attribute (`RECEIVED_ATTR`) by which a maildrop file
//! from the stand-alone smtpd (`sendmail -bs`) tells pickup it already has smtpd's header.
//! A leaf shared by smtpd, pickup and postdrop (it uses only log::lines::printable), so
//! that pickup never imports smtpd.
//!
//! ```text
//! Received: from HELO (NAME [ADDR])
//!         by MYHOSTNAME (MAIL_NAME) with ESMTP id QUEUEID
//!         for <rcpt>; DATE
//!
//! Received: by MYHOSTNAME (MAIL_NAME, from userid N)
//!         id QUEUEID; DATE
//! ```
//! `for` appears only with exactly one recipient. With TLS and
//! smtpd_tls_received_header = yes, Postfix's comments follow the `from` line:
//! `(using TLSv1.3 with cipher NAME (256/256 bits))` and the client certificate's
//! (`(No client certificate requested)`, `(Client did not present a certificate)`, or
//! `(Client CN "NAME", Issuer "NAME" (verified OK))`).
//!
//! Security role: client-supplied text (HELO, recipient) is made printable so it cannot add
//! header lines; postdrop lets only `postdrop -r` (the stand-alone smtpd) set
//! `RECEIVED_ATTR`. Logs nothing.

/// The envelope attribute marking a maildrop file whose content already has smtpd's
/// Received: header.
pub const RECEIVED_ATTR: (&str, &str) = ("received", "smtpd");

/// Everything the header states.
pub struct Trace<'a> {
    /// The SMTP client (smtpd); `None` for pickup's header, which names no client.
    pub client: Option<Client<'a>>,
    pub myhostname: &'a str,
    pub mail_name: &'a str,
    /// The submitting user's uid, for pickup and for the stand-alone server
    /// (`sendmail -bs`): `(MAIL_NAME, from userid N)`.
    pub userid: Option<u32>,
    pub queue_id: &'a str,
    /// The single recipient, as the client gave it.
    pub single_rcpt: Option<&'a str>,
    pub date: &'a str,
}

/// The `from` part of smtpd's header.
pub struct Client<'a> {
    pub helo: Option<&'a str>,
    pub name: &'a str,
    pub addr: &'a str,
    /// SMTP, ESMTP, or with RFC 3848's suffixes ESMTPA (AUTH), ESMTPS (TLS), ESMTPSA.
    pub protocol: &'a str,
    /// With TLS and smtpd_tls_received_header = yes: `TLSv1.3 with cipher ...` and the
    /// client certificate comment (`No client certificate requested`, ...).
    pub tls: Option<(&'a str, &'a str)>,
    /// The SASL login, with smtpd_sasl_authenticated_header = yes:
    /// `(Authenticated sender: NAME)` after the `from` clause (and the TLS comment).
    pub authenticated_sender: Option<&'a str>,
}

fn clean(s: &str) -> String {
    crate::log::lines::printable(s)
}

/// Build the header text, folded with tabs, ending in a newline.
pub fn build(t: &Trace<'_>) -> String {
    let by = match t.userid {
        Some(u) => format!("{}, from userid {}", t.mail_name, u),
        None => t.mail_name.to_string(),
    };
    let Some(c) = &t.client else {
        return format!(
            "Received: by {} ({})\n\tid {}; {}\n",
            t.myhostname, by, t.queue_id, t.date
        );
    };
    let from = c.helo.unwrap_or(c.name);
    let addr = match c.addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => format!("IPv6:{}", c.addr),
        _ => c.addr.to_string(),
    };
    // Postfix's TLS comments.
    let tls = match c.tls {
        Some((using, client)) => format!("\n\t(using {})\n\t({})", clean(using), clean(client)),
        None => String::new(),
    };
    let auth = c.authenticated_sender.map_or(String::new(), |u| {
        let u = clean(u).replace(['(', ')'], "?");
        format!("\n\t(Authenticated sender: {})", u)
    });
    let mut h = format!(
        "Received: from {} ({} [{}]){}{}\n\tby {} ({}) with {} id {}",
        clean(from),
        c.name,
        addr,
        tls,
        auth,
        t.myhostname,
        by,
        c.protocol,
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
            client: Some(Client {
                helo,
                name: "localhost.localdomain",
                addr: "127.0.0.1",
                protocol: "SMTP",
                tls: None,
                authenticated_sender: None,
            }),
            myhostname: "www.a.org",
            mail_name: "Postfix",
            userid: None,
            queue_id: "35EC31BB8035",
            single_rcpt: rcpt,
            date: "Thu, 30 Apr 2020 14:56:30 +0800 (CST)",
        }
    }

    #[test]
    fn tls_comment_follows_the_from_line() {
        let mut t = trace(Some("h"), None);
        if let Some(c) = t.client.as_mut() {
            c.tls = Some((
                "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                "No client certificate requested",
            ));
            c.protocol = "ESMTPS";
        }
        assert_eq!(
            build(&t),
            "Received: from h (localhost.localdomain [127.0.0.1])\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\n\t(No client certificate requested)\n\tby www.a.org (Postfix) with ESMTPS id 35EC31BB8035;\n\tThu, 30 Apr 2020 14:56:30 +0800 (CST)\n"
        );
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
    fn authenticated_sender_comment_and_esmtpa() {
        let mut t = trace(Some("client.example"), None);
        let c = t.client.as_mut().unwrap();
        c.protocol = "ESMTPA";
        c.authenticated_sender = Some("alice (x)\n");
        assert_eq!(
            build(&t),
            "Received: from client.example (localhost.localdomain [127.0.0.1])\n\t(Authenticated sender: alice ?x??)\n\tby www.a.org (Postfix) with ESMTPA id 35EC31BB8035;\n\tThu, 30 Apr 2020 14:56:30 +0800 (CST)\n"
        );
    }

    #[test]
    fn stand_alone_names_the_userid() {
        let mut t = trace(Some("me"), None);
        t.client.as_mut().unwrap().name = "localhost";
        t.userid = Some(1000);
        let h = build(&t);
        assert!(
            h.starts_with("Received: from me (localhost [127.0.0.1])\n\tby www.a.org (Postfix, from userid 1000) with SMTP id "),
            "{}",
            h
        );
    }

    #[test]
    fn pickup_shape() {
        let mut t = trace(None, None);
        t.client = None;
        t.userid = Some(1000);
        assert_eq!(
            build(&t),
            "Received: by www.a.org (Postfix, from userid 1000)\n\tid 35EC31BB8035; Thu, 30 Apr 2020 14:56:30 +0800 (CST)\n"
        );
    }

    #[test]
    fn helo_cannot_inject_lines() {
        let h = build(&trace(Some("x\r\nX-Evil: 1"), None));
        assert_eq!(h.lines().count(), 3);
    }
}
