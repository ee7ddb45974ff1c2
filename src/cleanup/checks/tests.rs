use super::*;
use crate::queue::Recipient;
use std::path::{Path, PathBuf};

struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("postern-chk-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Fixture { dir }
    }

    /// A regexp table with `rules`, as a spec.
    fn table(&self, name: &str, rules: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, rules).unwrap();
        format!("regexp:{}", p.display())
    }

    fn config(&self, pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs(Path::new("/nonexistent"), pairs)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn env() -> Envelope {
    let mut e = Envelope::new("s@a.test");
    e.recipients.push(Recipient::new("r@b.test"));
    e.set_attr("client_name", "c.test");
    e.set_attr("client_address", "192.0.2.1");
    e
}

fn run(cfg: &Config, msg: &str) -> Result<Verdict, CheckError> {
    inspect(cfg, "ID", &env(), None, msg.as_bytes())
}

fn text(v: &Verdict) -> String {
    String::from_utf8(v.content.clone().expect("content changed")).unwrap()
}

const MULTIPART: &str = concat!(
    "Subject: hello\n",
    "Content-Type: multipart/mixed; boundary=\"XX\"\n",
    "\n",
    "--XX\n",
    "Content-Type: text/plain\n",
    "\n",
    "a line with viagra in it\n",
    "--XX\n",
    "Content-Type: message/rfc822\n",
    "\n",
    "Subject: inner secret\n",
    "\n",
    "inner body\n",
    "--XX--\n",
);

#[test]
fn nothing_configured_does_nothing() {
    let f = Fixture::new("none");
    assert_eq!(run(&f.config(&[]), MULTIPART).unwrap(), Verdict::default());
}

#[test]
fn reject_with_default_and_given_text_and_deferral() {
    let f = Fixture::new("rej");
    let t = f.table("h", "/^Subject: hello/ REJECT\n/^Subject: go/ REJECT go away\n/^Subject: later/ REJECT 4.7.0 later\n");
    let cfg = f.config(&[("header_checks", &t)]);
    let e = run(&cfg, MULTIPART).unwrap_err();
    assert_eq!(e.reply().to_string(), "550 5.7.1 message content rejected");
    let e = run(&cfg, "Subject: go\n\nx\n").unwrap_err();
    assert_eq!(e.reply().to_string(), "550 5.7.1 go away");
    let e = run(&cfg, "Subject: later\n\nx\n").unwrap_err();
    assert_eq!(e.reply().to_string(), "451 4.7.0 later");
    assert!(e.is_temporary());
}

#[test]
fn a_multi_line_header_is_one_key() {
    let f = Fixture::new("fold");
    let t = f.table("h", "/^Subject: one.*two$/ REJECT folded\n");
    let cfg = f.config(&[("header_checks", &t)]);
    let e = run(&cfg, "Subject: one\n\ttwo\n\nbody\n").unwrap_err();
    assert_eq!(e.reply().to_string(), "550 5.7.1 folded");
    assert!(run(&cfg, "Subject: one\n\tthree\n\nbody\n").is_ok());
}

#[test]
fn each_table_sees_its_own_headers() {
    let f = Fixture::new("classes");
    let h = f.table(
        "h",
        "/^Content-Type: message/ REJECT primary table\n/^Subject: inner/ REJECT primary table\n",
    );
    let m = f.table("m", "/^Content-Type: message\\/rfc822/ REJECT mime table\n");
    let n = f.table("n", "/^Subject: inner/ REJECT nested table\n");
    let cfg = f.config(&[("header_checks", &h), ("mime_header_checks", &m)]);
    let e = run(&cfg, MULTIPART).unwrap_err();
    assert_eq!(e.to_string(), "5.7.1 mime table");
    let cfg = f.config(&[
        ("header_checks", &h),
        ("mime_header_checks", ""),
        ("nested_header_checks", &n),
    ]);
    let e = run(&cfg, MULTIPART).unwrap_err();
    assert_eq!(e.to_string(), "5.7.1 nested table");
    // By default the mime and nested tables are $header_checks.
    let cfg = f.config(&[("header_checks", &h)]);
    assert_eq!(
        run(&cfg, MULTIPART).unwrap_err().to_string(),
        "5.7.1 primary table"
    );
}

#[test]
fn body_lines_of_a_text_part_and_the_size_limit() {
    let f = Fixture::new("body");
    let b = f.table("b", "/viagra/ REJECT no pills\n");
    let cfg = f.config(&[("body_checks", &b)]);
    assert_eq!(
        run(&cfg, MULTIPART).unwrap_err().to_string(),
        "5.7.1 no pills"
    );
    // The line is at offset 1 of its part: a limit of 1 skips it.
    let cfg = f.config(&[("body_checks", &b), ("body_checks_size_limit", "1")]);
    assert!(run(&cfg, MULTIPART).is_ok());
    // Part headers are not body lines.
    let b = f.table("b2", "/^Content-Type: text/ REJECT seen\n");
    let cfg = f.config(&[("body_checks", &b)]);
    assert!(run(&cfg, MULTIPART).is_ok());
}

#[test]
fn prepend_replace_ignore_and_body_actions_rewrite_the_content() {
    let f = Fixture::new("edit");
    let h = f.table(
        "h",
        "/^Subject: (.*)/ REPLACE Subject: [tagged] $1\n/^X-Drop:/ IGNORE\n/^To:/ PREPEND X-Seen: yes\n",
    );
    let b = f.table("b", "/^secret$/ REPLACE [removed]\n/^drop me$/ IGNORE\n");
    let cfg = f.config(&[("header_checks", &h), ("body_checks", &b)]);
    let v = run(
        &cfg,
        "Subject: hi\nX-Drop: 1\n\tmore\nTo: r\n\nsecret\ndrop me\nkeep\n",
    )
    .unwrap();
    assert_eq!(
        text(&v),
        "Subject: [tagged] hi\nX-Seen: yes\nTo: r\n\n[removed]\nkeep\n"
    );
}

#[test]
fn hold_discard_redirect_bcc_and_warn() {
    let f = Fixture::new("flags");
    let h = f.table(
        "h",
        "/^Subject: hold/ HOLD held\n/^Subject: discard/ DISCARD\n/^Subject: redir/ REDIRECT x@c.test\n/^X-Bcc:/ BCC copy@c.test\n/^X-Warn:/ WARN look\n/^X-Bad:/ REDIRECT nodomain\n",
    );
    let cfg = f.config(&[("header_checks", &h)]);
    let v = run(&cfg, "Subject: hold\nX-Warn: 1\n\nx\n").unwrap();
    assert!(v.hold && !v.discard && v.content.is_none());
    let v = run(&cfg, "Subject: discard\n\nx\n").unwrap();
    assert!(v.discard);
    let v = run(&cfg, "Subject: redir\nX-Bcc: 1\nX-Bad: 1\n\nx\n").unwrap();
    assert_eq!(v.redirect.as_deref(), Some("x@c.test"));
    assert!(v.bcc.is_empty(), "REDIRECT ends inspection");
    let v = run(&cfg, "X-Bcc: 1\nX-Bad: 1\n\nx\n").unwrap();
    assert_eq!(v.bcc, vec!["copy@c.test".to_string()]);
    assert_eq!(v.redirect, None, "a target without @ is refused");
}

#[test]
fn errors_and_unsupported_actions_refuse_temporarily() {
    let f = Fixture::new("err");
    let bad = f.table("bad", "/(unclosed/ REJECT\n");
    let cfg = f.config(&[("header_checks", &bad)]);
    let e = run(&cfg, "Subject: x\n\nx\n").unwrap_err();
    assert!(matches!(e, CheckError::Lookup));
    assert_eq!(
        e.reply().to_string(),
        "451 4.3.0 Error: queue file write error"
    );
    let cfg = f.config(&[("header_checks", "nosuchtype:/x")]);
    assert!(matches!(
        run(&cfg, "Subject: x\n\nx\n").unwrap_err(),
        CheckError::Lookup
    ));
}

#[test]
fn filter_names_the_content_filter_and_the_last_one_wins() {
    let f = Fixture::new("filter");
    let t = f.table(
        "filter",
        "/^Subject:/ FILTER smtp:[127.0.0.1]:10025\n/^X-Two:/ FILTER two:\n/^X-Bad:/ FILTER nocolon\n",
    );
    let cfg = f.config(&[("header_checks", &t)]);
    let v = run(&cfg, "Subject: x\n\nx\n").unwrap();
    assert_eq!(v.filter.as_deref(), Some("smtp:[127.0.0.1]:10025"));
    let v = run(&cfg, "Subject: x\nX-Two: y\nX-Bad: z\n\nx\n").unwrap();
    assert_eq!(
        v.filter.as_deref(),
        Some("two:"),
        "a bad FILTER changes nothing"
    );
    let v = run(&cfg, "X-Bad: z\n\nx\n").unwrap();
    assert_eq!(v.filter, None);
}

#[test]
fn too_deep_nesting_is_rejected_when_headers_are_inspected() {
    let f = Fixture::new("deep");
    let mut m = String::new();
    for i in 0..5 {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{}\n\n--b{}\n",
            i, i
        ));
    }
    m.push_str("\nbody\n");
    let h = f.table("h", "/^X-Nothing:/ REJECT\n");
    let cfg = f.config(&[("header_checks", &h), ("mime_nesting_limit", "2")]);
    let e = run(&cfg, &m).unwrap_err();
    assert_eq!(
        e.reply().to_string(),
        "550 5.6.0 MIME nesting exceeds safety limit"
    );
    let b = f.table("b", "/^X-Nothing:/ REJECT\n");
    let cfg = f.config(&[("body_checks", &b), ("mime_nesting_limit", "2")]);
    assert!(
        run(&cfg, &m).is_ok(),
        "only header inspection reports nesting"
    );
}

#[test]
fn redirect_replaces_every_recipient_once() {
    let mut e = env();
    e.recipients.push(Recipient::new("other@b.test"));
    redirect(&mut e, "x@c.test");
    assert_eq!(e.recipients.len(), 1);
    assert_eq!(e.recipients[0].address, "x@c.test");
    assert_eq!(e.recipients[0].orig.as_deref(), Some("r@b.test"));
}

#[test]
fn obsolete_header_syntax_is_looked_up_normalized() {
    assert_eq!(normalized(b"Subject :  x"), "Subject:  x");
    assert_eq!(normalized(b"Subject: x"), "Subject: x");
}

#[test]
fn the_received_header_is_inspected_first() {
    let f = Fixture::new("rcvd");
    let h = f.table(
        "h",
        "/^Received: from evil/ REJECT evil relay\n/^X-Tag:/ PREPEND X-New: 1\n",
    );
    let cfg = f.config(&[("header_checks", &h)]);
    let rcvd = "Received: from evil.test\n\tby us\n";
    let e = inspect(&cfg, "ID", &env(), Some(rcvd), b"Subject: x\n\nbody\n").unwrap_err();
    assert_eq!(e.to_string(), "5.7.1 evil relay");
    let v = inspect(
        &cfg,
        "ID",
        &env(),
        Some("Received: ok\n"),
        b"X-Tag: 1\n\nbody\n",
    )
    .unwrap();
    assert_eq!(text(&v), "Received: ok\nX-New: 1\nX-Tag: 1\n\nbody\n");
}
