//! The smtpd lines fail2ban's stock postfix filter reads (Debian's
//! /etc/fail2ban/filter.d/postfix.conf, checked with `fail2ban-regex`): `improper command
//! pipelining after CMD from host[ip]: ...` and `too many errors after CMD from host[ip]`
//! (mode normal), `lost connection after CMD from host[ip]` and `disconnect from host[ip]
//! ... auth=0/N ...` (mode ddos), and Postfix 3's per-command counters on the disconnect
//! line. Also `timeout after CMD`, which the filter does not read but admins grep for.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Instance, require, wait_for};

const TOOL: &str = "/usr/bin/fail2ban-regex";
const FILTER: &str = "/etc/fail2ban/filter.d/postfix.conf";

/// The log lines containing `what`, each ending in a newline.
fn lines_with(log: &str, what: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(what))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `fail2ban-regex FILE 'postfix[mode=MODE]'` matches every one of `lines`.
fn all_matched(dir: &Path, mode: &str, lines: &[String]) {
    let file = dir.join(format!("f2b-{mode}.log"));
    std::fs::write(&file, lines.concat()).unwrap();
    let out = Command::new(TOOL)
        .arg(&file)
        .arg(format!("postfix[mode={mode}]"))
        .output()
        .expect("run fail2ban-regex");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let want = format!(
        "Lines: {n} lines, 0 ignored, {n} matched, 0 missed",
        n = lines.len()
    );
    assert!(text.contains(&want), "{want}\n{}\n{text}", lines.concat());
}

#[test]
fn smtpd_lines_match_fail2bans_postfix_filter() {
    let inst = Instance::new(&[("smtpd_hard_error_limit", "3"), ("smtpd_timeout", "2s")]);
    inst.newaliases();
    inst.start();
    let client = postern::smtpd::ClientInfo::lookup("127.0.0.1:25".parse().unwrap()).log_name();

    // A normal session: every command succeeds.
    let mut c = inst.connect();
    c.reply();
    c.cmd("ehlo client.test");
    assert_eq!(c.cmd("mail from:<a@remote.test>"), "250 2.1.0 Ok");
    assert!(c.cmd("rcpt to:<nosuchuser@www.a.org>").starts_with("550"));
    c.cmd("quit");
    // AUTH without SASL, then gone without QUIT after RCPT.
    let mut c = inst.connect();
    c.reply();
    c.cmd("ehlo client.test");
    assert!(c.cmd("auth plain AAAA").starts_with("503"));
    c.cmd("mail from:<a@remote.test>");
    c.cmd("rcpt to:<nosuchuser@www.a.org>");
    drop(c);
    // Pipelining before the greeting's reply to HELO.
    let mut c = inst.connect();
    c.reply();
    c.send_raw(b"HELO x\r\nMAIL FROM:<a@b.test>\r\n");
    c.reply();
    // Too many errors.
    let mut c = inst.connect();
    c.reply();
    for _ in 0..3 {
        c.cmd("bogus");
    }
    c.reply();
    // A timeout after EHLO.
    let mut c = inst.connect();
    c.reply();
    c.cmd("ehlo client.test");
    assert!(c.reply().starts_with("421 4.4.2"));

    let wanted = [
        format!("disconnect from {client} ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"),
        format!("disconnect from {client} ehlo=1 auth=0/1 mail=1 rcpt=0/1 commands=2/4"),
        format!("lost connection after RCPT from {client}"),
        format!("improper command pipelining after HELO from {client}: MAIL FROM:<a@b.test>\\r\\n"),
        format!("disconnect from {client} helo=0/1 commands=0/1"),
        format!("too many errors after UNKNOWN from {client}"),
        format!("disconnect from {client} unknown=0/3 commands=0/3"),
        format!("timeout after EHLO from {client}"),
        format!("disconnect from {client} ehlo=1 commands=1"),
    ];
    let all_there = || {
        let log = inst.log();
        wanted.iter().all(|w| log.contains(w.as_str()))
    };
    assert!(wait_for(30, all_there), "{:?}\n{}", wanted, inst.log());

    if !require(
        Path::new(TOOL).exists() && Path::new(FILTER).exists(),
        "needs fail2ban (fail2ban-regex and its postfix filter)",
    ) {
        return;
    }
    let log = inst.log();
    let mut normal = lines_with(&log, "improper command pipelining after");
    normal.extend(lines_with(&log, "too many errors after"));
    assert_eq!(normal.len(), 2, "{}", log);
    all_matched(&inst.dir, "normal", &normal);
    let mut ddos = lines_with(&log, "lost connection after RCPT");
    ddos.extend(lines_with(&log, " auth=0/1 "));
    assert_eq!(ddos.len(), 2, "{}", log);
    all_matched(&inst.dir, "ddos", &ddos);
    let mut aggressive = normal.clone();
    aggressive.extend(ddos);
    all_matched(&inst.dir, "aggressive", &aggressive);
    inst.stop();
}
