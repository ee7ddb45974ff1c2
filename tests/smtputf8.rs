//! SMTPUTF8 (RFC 6531) end to end, as Postfix 3.x with `smtputf8_enable = yes`: python's
//! smtplib sends with `mail_options=['SMTPUTF8']` to a UTF-8 alias delivered into a local
//! mbox; raw sockets send what must be refused; and relaying to a second Postern that
//! offers SMTPUTF8 (sent with it) and to one that does not (a 5.6.7 bounce, unless the
//! message is all ASCII). Nothing leaves 127.0.0.0/8.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Instance, require, wait_for};

/// Append alias lines and rebuild the aliases table.
fn add_aliases(inst: &Instance, lines: &str) {
    let path = inst.etc.join("aliases");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(lines);
    std::fs::write(&path, text).unwrap();
    inst.newaliases();
}

/// python3 smtplib: EHLO, then one message with `mail_options`; prints whether SMTPUTF8
/// was offered and what sendmail() returned (or the refusal).
fn smtplib(port: u16, from: &str, to: &[&str], msg: &str, options: &[&str]) -> String {
    let script = r#"
import smtplib, sys, json
port, sender, rcpts, msg, opts = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.ehlo("client.example")
print("offered" if s.has_extn("smtputf8") else "not offered")
# Send UTF-8 commands without the option too (a client that does not declare it).
s.command_encoding = "utf-8"
try:
    print("refused", s.sendmail(sender, rcpts, msg.encode("utf-8"), mail_options=opts))
except smtplib.SMTPException as e:
    print("error", e)
s.quit()
"#;
    let json = |v: &[&str]| {
        let items: Vec<String> = v.iter().map(|s| format!("\"{}\"", s)).collect();
        format!("[{}]", items.join(","))
    };
    let out = Command::new("python3")
        .args(["-c", script, &port.to_string(), from, &json(to), msg])
        .arg(json(options))
        .output()
        .expect("run python3");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn have_python() -> bool {
    require(Path::new("/usr/bin/python3").exists(), "needs python3")
}

#[test]
fn python_smtplib_delivers_to_a_utf8_alias_in_a_local_mbox() {
    if !have_python() {
        return;
    }
    let inst = Instance::new(&[("smtputf8_enable", "yes")]);
    add_aliases(&inst, &format!("j\u{f6}rg: {}\n", inst.user));
    inst.start();
    let out = smtplib(
        inst.port,
        "s\u{e9}nder@b\u{fc}cher.example",
        &["j\u{f6}rg@www.a.org"],
        "Subject: Gr\u{fc}\u{df}e aus K\u{f6}ln\r\n\r\nhall\u{f6}\r\n",
        &["SMTPUTF8"],
    );
    assert_eq!(out, "offered\nrefused {}\n", "{}", inst.log());
    inst.wait_mbox(&inst.user, "Subject: Gr\u{fc}\u{df}e aus K\u{f6}ln");
    let mbox = inst.mbox(&inst.user);
    assert!(
        mbox.starts_with("From s\u{e9}nder@b\u{fc}cher.example "),
        "{mbox}"
    );
    assert!(mbox.contains("with UTF8SMTP id "), "{mbox}");
    assert!(
        mbox.contains("X-Original-To: j\u{f6}rg@www.a.org\n"),
        "{mbox}"
    );
    assert!(mbox.contains("\nhall\u{f6}\n"), "{mbox}");
    let line = inst.wait_log("status=sent (delivered to mailbox)");
    assert!(
        line.contains(&format!(
            "to=<{}@www.a.org>, orig_to=<j\u{f6}rg@www.a.org>",
            inst.user
        )),
        "{line}"
    );
    // Without the SMTPUTF8 request a UTF-8 domain is refused; smtplib reports it.
    let out = smtplib(
        inst.port,
        "a@b\u{fc}cher.example",
        &["j\u{f6}rg@www.a.org"],
        "Subject: x\r\n\r\nx\r\n",
        &[],
    );
    assert!(out.starts_with("offered\nerror "), "{out}");
    assert!(out.contains("5.1.7 Bad sender address syntax"), "{out}");
    inst.stop();
}

#[test]
fn raw_sessions_get_postfix_replies_for_bad_utf8_input() {
    let inst = Instance::new(&[
        ("smtputf8_enable", "yes"),
        ("strict_smtputf8", "yes"),
        ("smtpd_discard_ehlo_keywords", "etrn, vrfy"),
    ]);
    inst.newaliases();
    inst.start();
    let mut c = inst.connect();
    c.reply();
    let ehlo = c.cmd("EHLO client.example");
    assert!(
        ehlo.ends_with("\n250-DSN\n250-SMTPUTF8\n250 CHUNKING"),
        "{ehlo}"
    );
    assert!(!ehlo.contains("ETRN") && !ehlo.contains("VRFY"), "{ehlo}");
    inst.wait_log("postfix/smtpd[");
    inst.wait_log("]: discarding EHLO keywords: ETRN VRFY");
    assert_eq!(
        c.cmd("MAIL FROM:<a@b\u{fc}cher.example>"),
        "501 5.1.7 Bad sender address syntax"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<j\u{f6}rg@b.example>"),
        "553 5.6.7 Must declare SMTPUTF8 to send unicode address"
    );
    c.send_raw(b"MAIL FROM:<j\xf6rg@b.example> SMTPUTF8\r\n");
    assert_eq!(c.reply(), "500 5.5.2 Error: bad UTF-8 syntax");
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.example> SMTPUTF8=x"),
        "555 5.5.4 Unsupported option: SMTPUTF8=x"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<j\u{f6}rg@b\u{fc}cher.example> SMTPUTF8"),
        "250 2.1.0 Ok"
    );
    assert_eq!(
        c.cmd("RCPT TO:<x@-bad\u{fc}.example>"),
        "501 5.1.3 Bad recipient address syntax"
    );
    c.cmd("QUIT");
    inst.wait_log(
        "warning: Illegal address syntax from localhost[127.0.0.1] in MAIL command: \
         <a@b\u{fc}cher.example>",
    );
    inst.wait_log(
        "warning: Illegal address syntax from localhost[127.0.0.1] in RCPT command: \
         <x@-bad\u{fc}.example>",
    );
    inst.stop();
}

#[test]
fn relay_sends_smtputf8_or_bounces_with_5_6_7() {
    if !have_python() {
        return;
    }
    // B offers SMTPUTF8; C is Postfix 3 with smtputf8_enable = no.
    let b = Instance::new(&[
        ("mydestination", "$myhostname, localhost, b.test"),
        ("smtputf8_enable", "yes"),
    ]);
    add_aliases(&b, &format!("j\u{f6}rg: {}\n", b.user));
    b.start();
    let c = Instance::new(&[
        ("mydestination", "$myhostname, localhost, c.test"),
        ("smtputf8_enable", "no"),
    ]);
    c.newaliases();
    c.start();
    let a = Instance::new(&[
        ("smtputf8_enable", "yes"),
        (
            "transport_maps",
            &format!(
                "inline:{{ b.test=smtp:[127.0.0.1]:{}, c.test=smtp:[127.0.0.1]:{} }}",
                b.port, c.port
            ),
        ),
    ]);
    add_aliases(&a, &format!("weiter: {}@c.test\n", c.user));
    a.start();
    let sender = a.local_address();
    let out = smtplib(
        a.port,
        &sender,
        &["j\u{f6}rg@b.test", "j\u{f6}rg@c.test"],
        "Subject: \u{fc}ber alles\r\n\r\nutf8 relay\r\n",
        &["SMTPUTF8"],
    );
    assert_eq!(out, "offered\nrefused {}\n", "{}", a.log());
    // B got it with SMTPUTF8: its Received: header says UTF8SMTP.
    b.wait_mbox(&b.user, "Subject: \u{fc}ber alles");
    assert!(
        b.mbox(&b.user).contains("with UTF8SMTP id "),
        "{}",
        b.mbox(&b.user)
    );
    // C does not offer it: 5.6.7, returned to the sender.
    let line = a.wait_log("to=<j\u{f6}rg@c.test>");
    assert!(
        line.contains(&format!("relay=127.0.0.1[127.0.0.1]:{}, delay=", c.port))
            && line.contains(
                "dsn=5.6.7, status=bounced (SMTPUTF8 is required, but was not offered by host \
             127.0.0.1[127.0.0.1])"
            ),
        "{line}"
    );
    a.wait_mbox(&a.user, "Undelivered Mail Returned to Sender");
    // Requested, but all ASCII: C takes it without SMTPUTF8.
    let out = smtplib(
        a.port,
        &sender,
        &[&format!("{}@c.test", c.user)],
        "Subject: plain ascii\r\n\r\nascii relay\r\n",
        &["SMTPUTF8"],
    );
    assert_eq!(out, "offered\nrefused {}\n", "{}", a.log());
    c.wait_mbox(&c.user, "Subject: plain ascii");
    assert!(
        c.mbox(&c.user).contains("with ESMTP id "),
        "{}",
        c.mbox(&c.user)
    );
    assert!(wait_for(10, || a.log().contains(&format!(
        "to=<{}@c.test>, relay=127.0.0.1[127.0.0.1]:{}",
        c.user, c.port
    ))));
    // The request stays with a copy the local alias forwards: its UTF-8 header then needs
    // SMTPUTF8, which C does not offer.
    let out = smtplib(
        a.port,
        &sender,
        &["weiter@www.a.org"],
        "Subject: weitergeleitet \u{fc}ber alias\r\n\r\nx\r\n",
        &["SMTPUTF8"],
    );
    assert_eq!(out, "offered\nrefused {}\n", "{}", a.log());
    let fwd = a.wait_log(&format!(
        "to=<{}@c.test>, orig_to=<weiter@www.a.org>",
        c.user
    ));
    let copy = fwd
        .split("(forwarded as ")
        .nth(1)
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{fwd}"));
    let line = a.wait_log(&format!("{}: to=<{}@c.test>", copy, c.user));
    assert!(
        line.contains("dsn=5.6.7, status=bounced (SMTPUTF8 is required"),
        "{line}"
    );
    // sendmail submissions are autodetected (smtputf8_autodetect_classes = sendmail,
    // verify): a UTF-8 recipient makes the message need SMTPUTF8 too.
    let out = a.sendmail(
        &["-f", &sender, "\u{e9}t\u{e9}@c.test"],
        b"Subject: via sendmail\n\nx\n",
    );
    assert!(out.status.success(), "{out:?}");
    let line = a.wait_log("to=<\u{e9}t\u{e9}@c.test>");
    assert!(
        line.contains("dsn=5.6.7, status=bounced (SMTPUTF8 is required"),
        "{line}"
    );
    a.stop();
    b.stop();
    c.stop();
}
