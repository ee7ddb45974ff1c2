//! sendmail's bad input: an unknown option, a message over message_size_limit on standard
//! input (50 MB), and -t with only malformed recipient headers. Each gets a sysexits code and
//! a clear message, and nothing reaches the maildrop. Also -bi and -I (newaliases).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Instance;

fn sendmail(inst: &Instance, args: &[&str], input: &[u8]) -> (i32, String) {
    let mut child = Command::new(common::bin("sendmail"))
        .arg("-C")
        .arg(&inst.etc)
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The writer may stop reading early (too big): a broken pipe is expected then.
    let _ = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_gets_sysexits_codes_and_queues_nothing() {
    let inst = Instance::new(&[]);
    assert!(inst.postfix(&["check"]).status.success());

    let (code, err) = sendmail(&inst, &["-Z", "root"], b"x\n");
    assert_eq!(code, 64, "EX_USAGE: {}", err);
    assert!(
        err.contains("sendmail: fatal:") && err.contains("Z"),
        "{}",
        err
    );

    let mut big = b"To: root\nSubject: big\n\n".to_vec();
    big.resize(50 * 1024 * 1024, b'x');
    let (code, err) = sendmail(&inst, &["-t", "-i"], &big);
    assert_eq!(code, 65, "EX_DATAERR: {}", err);
    assert!(err.contains("message file too big"), "{}", err);

    let (code, err) = sendmail(
        &inst,
        &["-t", "-i"],
        b"To: <unterminated@x\nSubject: s\n\nbody\n",
    );
    assert_eq!(code, 64, "{}", err);
    assert!(
        err.contains("No recipient addresses found in message header"),
        "{}",
        err
    );

    assert!(
        inst.queue_files("maildrop").is_empty(),
        "nothing was queued"
    );
}

#[test]
fn line_breaks_in_envelope_addresses_are_refused() {
    let inst = Instance::new(&[]);
    assert!(inst.postfix(&["check"]).status.success());
    let (code, err) = sendmail(
        &inst,
        &["-f", "a@b.test>\r\nRCPT TO:<x@y.test", "root"],
        b"Subject: s\n\nx\n",
    );
    assert_eq!(code, 65, "{}", err);
    assert!(err.contains("control character"), "{}", err);
    assert!(inst.queue_files("maildrop").is_empty());
}

#[test]
fn bi_and_capital_i_rebuild_the_alias_database() {
    let inst = Instance::new(&[]);
    let db = inst.etc.join("aliases.db");
    for args in [["-bi"], ["-I"]] {
        let _ = std::fs::remove_file(&db);
        let (code, err) = sendmail(&inst, &args, b"");
        assert_eq!(code, 0, "{:?}: {}", args, err);
        assert!(db.exists(), "{:?} built no {}", args, db.display());
    }
}
