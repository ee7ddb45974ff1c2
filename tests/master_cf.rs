//! Postfix's stock master.cf, 2.10 and 3.x (their service lines, written out here without
//! the comment prose, with the commented submission/smtps examples switched on), loads
//! unchanged: it parses, smtp/submission/smtps become listeners with their `-o`
//! overrides (submission at TLS level encrypt, smtps in TLS wrapper mode), each service
//! Postern does not provide is named in exactly one start-up warning, and the internal
//! services it does provide are silent.

mod common;
#[path = "common/tls.rs"]
mod tls;

use common::{Instance, wait_for};
use postern::config::master_cf;

/// Postfix 2.10's master.cf service lines.
const POSTFIX_2_10: &str = "\
smtp      inet  n       -       n       -       -       smtpd
submission inet n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
smtps     inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
pickup    fifo  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      fifo  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
\t-o smtp_fallback_relay=
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
maildrop  unix  -       n       n       -       -       pipe
  flags=DRhu user=vmail argv=/usr/local/bin/maildrop -d ${recipient}
uucp      unix  -       n       n       -       -       pipe
  flags=Fqhu user=uucp argv=uux -r -n -z -a$sender - $nexthop!rmail ($recipient)
ifmail    unix  -       n       n       -       -       pipe
  flags=F user=ftn argv=/usr/lib/ifmail/ifmail -r $nexthop ($recipient)
bsmtp     unix  -       n       n       -       -       pipe
  flags=Fq. user=bsmtp argv=/usr/lib/bsmtp/bsmtp -t$nexthop -f$sender $recipient
scalemail-backend unix\t-\tn\tn\t-\t2\tpipe
  flags=R user=scalemail argv=/usr/lib/scalemail/bin/scalemail-store ${nexthop} ${user} ${extension}
mailman   unix  -       n       n       -       -       pipe
  flags=FR user=list argv=/usr/lib/mailman/bin/postfix-to-mailman.py
  ${nexthop} ${user}
";

/// Postfix 3.x's: pickup and qmgr as unix, postlog, the longer submission example.
const POSTFIX_3: &str = "\
smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_client_restrictions=$mua_client_restrictions
  -o smtpd_helo_restrictions=$mua_helo_restrictions
  -o smtpd_sender_restrictions=$mua_sender_restrictions
  -o smtpd_recipient_restrictions=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
smtps     inet  n       -       y       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       y       1000?   1       tlsmgr
rewrite   unix  -       -       y       -       -       trivial-rewrite
bounce    unix  -       -       y       -       0       bounce
defer     unix  -       -       y       -       0       bounce
trace     unix  -       -       y       -       0       bounce
verify    unix  -       -       y       -       1       verify
flush     unix  n       -       y       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       y       -       -       showq
error     unix  -       -       y       -       -       error
retry     unix  -       -       y       -       -       error
discard   unix  -       -       y       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       y       -       -       lmtp
anvil     unix  -       -       y       -       1       anvil
scache    unix  -       -       y       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
maildrop  unix  -       n       n       -       -       pipe
  flags=DRXhu user=vmail argv=/usr/local/bin/maildrop -d ${recipient}
uucp      unix  -       n       n       -       -       pipe
  flags=Fqhu user=uucp argv=uux -r -n -z -a$sender - $nexthop!rmail ($recipient)
ifmail    unix  -       n       n       -       -       pipe
  flags=F user=ftn argv=/usr/lib/ifmail/ifmail -r $nexthop ($recipient)
bsmtp     unix  -       n       n       -       -       pipe
  flags=Fq. user=bsmtp argv=/usr/lib/bsmtp/bsmtp -t$nexthop -f$sender $recipient
scalemail-backend unix -       n       n       -       2       pipe
  flags=R user=scalemail argv=/usr/lib/scalemail/bin/scalemail-store ${nexthop} ${user} ${extension}
mailman   unix  -       n       n       -       -       pipe
  flags=FR user=list argv=/usr/lib/mailman/bin/postfix-to-mailman.py ${nexthop} ${user}
";

/// The services each fixture has that Postern does not provide (lmtp and the pipe(8)
/// entries are transports; the pipe entries whose user= has no account here are warned
/// about as unusable, see `pipe_entries_without_accounts_warn`).
const UNSUPPORTED_2_10: &[&str] = &[];

const INTERNAL: &[&str] = &[
    "pickup",
    "cleanup",
    "qmgr",
    "tlsmgr",
    "rewrite",
    "bounce",
    "defer",
    "trace",
    "verify",
    "flush",
    "proxymap",
    "proxywrite",
    "showq",
    "error",
    "retry",
    "discard",
    "local",
    "anvil",
    "scache",
];

fn unsupported_3() -> Vec<&'static str> {
    let mut v = UNSUPPORTED_2_10.to_vec();
    v.push("postlog (unix-dgram postlogd)");
    v
}

#[test]
fn both_versions_parse() {
    for (text, n) in [(POSTFIX_2_10, 32), (POSTFIX_3, 33)] {
        let services = master_cf::parse(text, "master.cf").unwrap();
        assert_eq!(services.len(), n);
        let listeners: Vec<_> = services
            .iter()
            .filter(|s| s.is_smtpd_listener())
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(listeners, ["smtp", "submission", "smtps"]);
        let sub = services.iter().find(|s| s.name == "submission").unwrap();
        assert_eq!(
            sub.overrides[0],
            ("syslog_name".to_string(), "postfix/submission".to_string())
        );
        let relay = services.iter().find(|s| s.name == "relay").unwrap();
        assert_eq!(relay.overrides.len(), 1);
        let mailman = services.iter().find(|s| s.name == "mailman").unwrap();
        assert_eq!(mailman.args.last().map(String::as_str), Some("${user}"));
        assert!(mailman.overrides.is_empty());
    }
    let s = master_cf::parse(POSTFIX_2_10, "m").unwrap();
    let relay = s.iter().find(|s| s.name == "relay").unwrap();
    assert_eq!(
        relay.overrides,
        vec![("smtp_fallback_relay".to_string(), String::new())]
    );
    let s = master_cf::parse(POSTFIX_3, "m").unwrap();
    let postlog = s.iter().find(|s| s.name == "postlog").unwrap();
    assert_eq!(
        (postlog.kind.as_str(), postlog.maxproc),
        ("unix-dgram", Some(1))
    );
}

#[test]
fn stock_service_ports() {
    use postern::master::listen::port_of;
    assert_eq!(port_of("smtp"), Some(25));
    assert_eq!(port_of("submission"), Some(587));
    assert_eq!(port_of("smtps"), Some(465));
}

/// The fixture with the three inet services bound to free loopback ports.
fn bind_locally(text: &str, ports: [u16; 3]) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut l = line.to_string();
        for (name, port) in ["smtp ", "submission ", "smtps "].iter().zip(ports) {
            if let Some(rest) = line.strip_prefix(name)
                && rest.trim_start().starts_with("inet")
            {
                l = format!("127.0.0.1:{} {}", port, rest);
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn greet(port: u16) -> common::Client {
    let mut c = common::Client::connect(port);
    let banner = c.reply();
    assert!(banner.starts_with("220 "), "banner on {}: {}", port, banner);
    let r = c.cmd("EHLO client.test");
    assert!(r.starts_with("250"), "EHLO on {}: {}", port, r);
    c
}

fn run_fixture(text: &str, unsupported: &[&str]) {
    let inst = Instance::new(&[]);
    let ports = [inst.port, common::free_port(), common::free_port()];
    let master = bind_locally(text, ports);
    assert_eq!(master.matches("127.0.0.1:").count(), 3, "{}", master);
    std::fs::write(inst.etc.join("master.cf"), master).unwrap();
    let (cert, key) = tls::make_cert(&inst.etc, "server");
    inst.set("smtpd_tls_cert_file", &cert.display().to_string());
    inst.set("smtpd_tls_key_file", &key.display().to_string());
    inst.newaliases();
    inst.start();

    // Plain smtp: a local client relays (mynetworks).
    let mut c = greet(ports[0]);
    assert!(c.cmd("MAIL FROM:<a@remote.test>").starts_with("250"));
    let r = c.cmd("RCPT TO:<b@elsewhere.test>");
    assert!(r.starts_with("250"), "smtp RCPT: {}", r);
    c.cmd("QUIT");
    // submission and smtps: their -o overrides are in force. 2.10 rejects the client
    // (smtpd_client_restrictions=permit_sasl_authenticated,reject, applied at RCPT under
    // smtpd_delay_reject), 3.x the relay (smtpd_relay_restrictions=...); Postfix's texts.
    let want = if text.contains("smtpd_relay_restrictions=permit_sasl_authenticated,reject") {
        "554 5.7.1 <b@elsewhere.test>: Recipient address rejected: Access denied"
    } else {
        assert!(text.contains("smtpd_client_restrictions=permit_sasl_authenticated,reject"));
        "554 5.7.1 <localhost[127.0.0.1]>: Client host rejected: Access denied"
    };
    // submission (encrypt): 530 before STARTTLS.
    let mut c = greet(ports[1]);
    let r = c.cmd("MAIL FROM:<a@remote.test>");
    assert_eq!(r, "530 5.7.0 Must issue a STARTTLS command first");
    c.cmd("QUIT");
    let mut sub = tls::starttls(ports[1]);
    let (mut smtps, greeting) = tls::wrapped(ports[2]);
    assert!(greeting.starts_with("220 "), "smtps greeting: {}", greeting);
    for (name, c) in [("submission", &mut sub), ("smtps", &mut smtps)] {
        let r = c.cmd("EHLO client.test");
        assert!(r.starts_with("250"), "{} EHLO: {}\n{}", name, r, inst.log());
        let r = c.cmd("MAIL FROM:<a@remote.test>");
        assert!(r.starts_with("250"), "{} MAIL: {}\n{}", name, r, inst.log());
        let r = c.cmd("RCPT TO:<b@elsewhere.test>");
        assert_eq!(r, want, "{} RCPT\n{}", name, inst.log());
        c.cmd("QUIT");
    }

    let log = inst.log();
    for svc in unsupported {
        let n = log
            .lines()
            .filter(|l| {
                l.contains("postfix/master[")
                    && l.contains(&format!("warning: {}/master.cf: line ", inst.etc.display()))
                    && l.contains(&format!(": service {} is not provided by Postern", svc))
            })
            .count();
        assert_eq!(n, 1, "warnings for {}:\n{}", svc, log);
    }
    for svc in [
        "maildrop",
        "uucp",
        "ifmail",
        "bsmtp",
        "scalemail-backend",
        "mailman",
    ] {
        let user_missing = log.lines().any(|l| {
            l.contains("postfix/master[")
                && l.contains(&format!(
                    ": service {} (unix pipe): unknown username: ",
                    svc
                ))
                && l.contains("(mail system configuration error)")
        });
        let user_exists = log
            .lines()
            .all(|l| !l.contains(&format!("service {} (unix pipe)", svc)));
        assert!(user_missing || user_exists, "{}:\n{}", svc, log);
    }
    for name in INTERNAL {
        let pat = format!(": service {} (", name);
        assert!(
            !log.lines().any(|l| l.contains(&pat)),
            "internal service {} warned:\n{}",
            name,
            log
        );
    }
    // The TLS overrides are in force: no warning names them as ineffective.
    assert!(
        !log.lines().any(|l| l.contains(": service 127.0.0.1:")
            && (l.contains("-o smtpd_tls_wrappermode=yes")
                || l.contains("-o smtpd_tls_security_level=encrypt"))),
        "{}",
        log
    );
    assert!(wait_for(10, || inst.log().contains("disconnect from")));
    // `-o syslog_name=postfix/submission` tags that listener's smtpd lines, as in Postfix.
    for name in ["submission", "smtps"] {
        let tag = format!(" postfix/{}/smtpd[", name);
        assert!(
            wait_for(10, || inst.log().contains(&tag)),
            "{}:\n{}",
            tag,
            inst.log()
        );
    }
    inst.stop();
}

#[test]
fn postfix_2_10_master_cf_runs() {
    run_fixture(POSTFIX_2_10, UNSUPPORTED_2_10);
}

#[test]
fn postfix_3_master_cf_runs() {
    run_fixture(POSTFIX_3, &unsupported_3());
}
