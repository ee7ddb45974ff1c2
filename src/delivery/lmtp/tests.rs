use super::*;
use crate::delivery::Status;
use crate::queue::Recipient;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::time::SystemTime;

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("postern-lmtp-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn next_hop_forms() {
    assert_eq!(
        parse_target("unix:private/dovecot-lmtp"),
        Ok(Target::Unix("private/dovecot-lmtp".into()))
    );
    assert_eq!(
        parse_target("inet:[127.0.0.1]:2424"),
        Ok(Target::Inet("[127.0.0.1]:2424".into()))
    );
    assert_eq!(
        parse_target("mail.test:24"),
        Ok(Target::Inet("mail.test:24".into()))
    );
    assert!(parse_target("unix:").is_err());
    assert!(parse_target("inet:").is_err());
}

/// A scripted LMTP server: answers every command; `rcpt` says the reply to each RCPT in
/// turn, `after` the replies after the dot; returns what it received.
fn serve(
    mut r: impl BufRead,
    mut w: impl Write,
    pipelining: bool,
    rcpt: Vec<&'static str>,
    after: Vec<&'static str>,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut rcpt = rcpt.into_iter();
    w.write_all(b"220 test LMTP ready\r\n").unwrap();
    let mut line = String::new();
    while r.read_line(&mut line).unwrap() > 0 {
        let cmd = line.trim_end().to_string();
        line.clear();
        seen.push(cmd.clone());
        let reply: String = if cmd.starts_with("LHLO") {
            let p = if pipelining { "250-PIPELINING\r\n" } else { "" };
            format!("250-test\r\n{}250 ENHANCEDSTATUSCODES\r\n", p)
        } else if cmd.starts_with("MAIL") {
            "250 2.1.0 OK\r\n".into()
        } else if cmd.starts_with("RCPT") {
            format!("{}\r\n", rcpt.next().unwrap())
        } else if cmd == "DATA" {
            w.write_all(b"354 go\r\n").unwrap();
            while r.read_line(&mut line).unwrap() > 0 {
                let l = line.trim_end().to_string();
                line.clear();
                if l == "." {
                    break;
                }
                seen.push(l);
            }
            after.iter().map(|a| format!("{}\r\n", a)).collect()
        } else if cmd == "QUIT" {
            w.write_all(b"221 bye\r\n").unwrap();
            break;
        } else {
            "500 what\r\n".into()
        };
        w.write_all(reply.as_bytes()).unwrap();
    }
    seen
}

/// `serve` on a UNIX-domain socket in `dir`.
fn server(
    dir: &Path,
    pipelining: bool,
    rcpt: Vec<&'static str>,
    after: Vec<&'static str>,
) -> (PathBuf, std::thread::JoinHandle<Vec<String>>) {
    let path = dir.join("lmtp.sock");
    let l = UnixListener::bind(&path).unwrap();
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let w = s.try_clone().unwrap();
        serve(BufReader::new(s), w, pipelining, rcpt, after)
    });
    (path, t)
}

fn agent() -> Lmtp {
    let cfg = Config::from_pairs(
        Path::new("/nonexistent"),
        &[("myhostname", "mx.test"), ("lmtp_lhlo_timeout", "5s")],
    );
    let resolver = Arc::new(crate::dns::SystemResolver::with_servers(
        Vec::new(),
        std::time::Duration::from_secs(1),
        1,
    ));
    Lmtp::new("lmtp", Arc::new(cfg), resolver)
}

/// A request for `rcpts` at `nexthop`.
fn request<'a>(nexthop: &'a str, rcpts: &'a [Recipient]) -> Request<'a> {
    Request {
        queue_id: "ABC123",
        sender: "s@x.test",
        arrival: SystemTime::now(),
        content: b"Subject: t\n\n.dot\nbody\n",
        recipients: rcpts,
        nexthop,
        ret: None,
        envid: None,
        attrs: &[],
    }
}

fn deliver(a: &Lmtp, nexthop: &str, rcpts: &[Recipient]) -> Vec<Outcome> {
    a.deliver(&request(nexthop, rcpts))
}

#[test]
fn verify_mode_asks_rcpt_and_sends_no_data() {
    for pipelining in [true, false] {
        let dir = scratch(if pipelining { "vpipe" } else { "vnopipe" });
        let (path, t) = server(
            &dir,
            pipelining,
            vec![
                "250 2.1.5 OK",
                "550 5.1.1 <b@x.test> User doesn't exist",
                "451 4.3.0 <c@x.test> Temporary internal failure",
            ],
            vec![],
        );
        let rcpts = ["a@x.test", "b@x.test", "c@x.test"].map(Recipient::new);
        let nexthop = format!("unix:{}", path.display());
        let out = agent().verify(&request(&nexthop, &rcpts));
        let seen = t.join().unwrap();
        let got: Vec<_> = out.iter().map(|o| (o.status, o.dsn.as_str())).collect();
        assert_eq!(
            got,
            [
                (Status::Sent, "2.1.5"),
                (Status::Bounced, "5.1.1"),
                (Status::Deferred, "4.3.0")
            ]
        );
        assert_eq!(out[0].text, "250 2.1.5 OK");
        assert!(!seen.iter().any(|c| c == "DATA"), "{:?}", seen);
        assert_eq!(seen.last().map(String::as_str), Some("QUIT"));
    }
}

#[test]
fn per_recipient_replies_after_data() {
    for pipelining in [true, false] {
        let dir = scratch(if pipelining { "pipe" } else { "nopipe" });
        let (path, t) = server(
            &dir,
            pipelining,
            vec![
                "250 2.1.5 OK",
                "550 5.1.1 <b@x.test> User doesn't exist",
                "250 2.1.5 OK",
            ],
            vec![
                "250 2.0.0 <a@x.test> Saved",
                "452 4.2.2 <c@x.test> Quota exceeded",
            ],
        );
        let rcpts = ["a@x.test", "b@x.test", "c@x.test"].map(Recipient::new);
        let out = deliver(&agent(), &format!("unix:{}", path.display()), &rcpts);
        let seen = t.join().unwrap();
        let relay = format!("mx.test[{}]", path.display());
        assert_eq!(out.len(), 3);
        assert_eq!(
            (out[0].status, out[0].relay.as_str()),
            (Status::Sent, relay.as_str())
        );
        assert_eq!(out[0].text, "250 2.0.0 <a@x.test> Saved");
        assert_eq!(out[1].status, Status::Bounced);
        assert_eq!(
            out[1].text,
            format!(
                "host {} said: 550 5.1.1 <b@x.test> User doesn't exist (in reply to RCPT TO command)",
                relay
            )
        );
        assert_eq!(
            (out[2].status, out[2].dsn.as_str()),
            (Status::Deferred, "4.2.2")
        );
        assert!(out[2].text.ends_with("(in reply to end of DATA command)"));
        assert_eq!(seen[0], "LHLO mx.test");
        assert!(seen.contains(&"..dot".to_string()), "{:?}", seen);
        assert_eq!(seen.last().map(String::as_str), Some("QUIT"));
    }
}

#[test]
fn server_down_defers() {
    let path = scratch("down").join("none.sock");
    let out = deliver(
        &agent(),
        &format!("unix:{}", path.display()),
        &[Recipient::new("a@x.test")],
    );
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Deferred, "4.4.1")
    );
    assert_eq!(
        out[0].text,
        format!(
            "connect to mx.test[{}]: No such file or directory",
            path.display()
        )
    );
    assert_eq!(out[0].relay, "none");
}

#[test]
fn tls_above_none_is_refused_not_ignored() {
    let cfg = Config::from_pairs(
        Path::new("/nonexistent"),
        &[("lmtp_tls_security_level", "encrypt")],
    );
    let a = Lmtp {
        cfg: Arc::new(cfg),
        ..agent()
    };
    let out = deliver(&a, "unix:/nonexistent", &[Recipient::new("a@x.test")]);
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Deferred, "4.7.5")
    );
}

#[test]
fn inet_next_hops_name_the_server_with_its_port() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let w = s.try_clone().unwrap();
        serve(
            BufReader::new(s),
            w,
            true,
            vec!["250 2.1.5 OK"],
            vec!["250 2.0.0 <a@x.test> Saved"],
        )
    });
    let out = deliver(
        &agent(),
        &format!("inet:[127.0.0.1]:{}", port),
        &[Recipient::new("a@x.test")],
    );
    t.join().unwrap();
    assert_eq!(out[0].status, Status::Sent);
    assert_eq!(out[0].relay, format!("127.0.0.1[127.0.0.1]:{}", port));
    // Nothing listens on the port any more: a deferral naming the address.
    let out = deliver(
        &agent(),
        &format!("127.0.0.1:{}", port),
        &[Recipient::new("a@x.test")],
    );
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Deferred, "4.4.1")
    );
    assert_eq!(
        out[0].text,
        format!(
            "connect to 127.0.0.1[127.0.0.1]:{}: Connection refused",
            port
        )
    );
}

/// SMTPUTF8 as Postfix's lmtp(8) decides it: a requested message with a UTF-8 recipient
/// needs a server that offers it (this one does not: 5.6.7); an all-ASCII one is sent
/// without it.
#[test]
fn smtputf8_needed_but_not_offered_bounces_with_5_6_7() {
    let cfg = Config::from_pairs(
        Path::new("/nonexistent"),
        &[("myhostname", "mx.test"), ("smtputf8_enable", "yes")],
    );
    let resolver = Arc::new(crate::dns::SystemResolver::with_servers(
        Vec::new(),
        std::time::Duration::from_secs(1),
        1,
    ));
    let a = Lmtp::new("lmtp", Arc::new(cfg), resolver);
    let attrs = [(crate::smtputf8::ATTR.to_string(), "1".to_string())];
    for (tag, rcpt) in [("u8-need", "j\u{f6}rg@x.test"), ("u8-ascii", "a@x.test")] {
        let dir = scratch(tag);
        let (path, t) = server(&dir, false, vec!["250 2.1.5 OK"], vec!["250 2.0.0 Saved"]);
        let rcpts = [Recipient::new(rcpt)];
        let nexthop = format!("unix:{}", path.display());
        let out = a.deliver(&Request {
            queue_id: "ABC123",
            sender: "s@x.test",
            arrival: SystemTime::now(),
            content: b"Subject: t\n\nbody\n",
            recipients: &rcpts,
            nexthop: &nexthop,
            ret: None,
            envid: None,
            attrs: &attrs,
        });
        let seen = t.join().unwrap();
        if tag == "u8-need" {
            assert_eq!(
                (out[0].status, out[0].dsn.as_str()),
                (Status::Bounced, "5.6.7")
            );
            assert_eq!(
                out[0].text,
                format!(
                    "SMTPUTF8 is required, but was not offered by host mx.test[{}]",
                    path.display()
                )
            );
            assert_eq!(seen, ["LHLO mx.test", "QUIT"]);
        } else {
            assert_eq!(out[0].status, Status::Sent, "{}", out[0].text);
            assert_eq!(seen[1], "MAIL FROM:<s@x.test>");
        }
    }
}
