//! Unit tests of postern-bench: option parsing, reporting and the scripted-server runs.

use super::*;
use std::io::BufRead;
use std::path::PathBuf;

pub(super) fn args(list: &[&str]) -> Vec<String> {
    std::iter::once("postern-bench")
        .chain(list.iter().copied())
        .map(String::from)
        .collect()
}

#[test]
fn one_mailbox_to_count() {
    let o = parse_args(&args(&["--maildir", "/v/alice/Maildir/"])).unwrap();
    assert_eq!(
        o.mailbox,
        Some(Mailbox::Maildir(PathBuf::from("/v/alice/Maildir/")))
    );
    let o = parse_args(&args(&["--mbox", "/var/mail/me"])).unwrap();
    assert_eq!(
        o.mailbox,
        Some(Mailbox::Mbox(PathBuf::from("/var/mail/me")))
    );
    assert_eq!(parse_args(&args(&[])).unwrap().mailbox, None);
    assert!(matches!(
        parse_args(&args(&["--mbox", "/a", "--maildir", "/b"])),
        Err(BenchError::Usage(_))
    ));
    assert_eq!(
        parse_args(&args(&["--drain", "/q"])).unwrap().mailbox,
        Some(Mailbox::Queue(PathBuf::from("/q")))
    );
    assert!(matches!(
        parse_args(&args(&["--mbox", "/a", "--drain", "/q"])),
        Err(BenchError::Usage(_))
    ));
}

/// The end-to-end wait on a maildir: counts only what arrives after the start, returns
/// once every accepted message is there, and reports a shortfall after the timeout.
#[test]
fn waits_for_maildir_deliveries() {
    let dir = std::env::temp_dir().join(format!("postern-bench-wait-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::write(dir.join("new/old.1"), "left over").unwrap();
    let mut c = Delivered::new(Mailbox::Maildir(dir.clone()));
    let before = c.count().unwrap();
    assert_eq!(before, 1);
    let writer_dir = dir.clone();
    let writer = thread::spawn(move || {
        for i in 0..3 {
            thread::sleep(Duration::from_millis(30));
            let tmp = writer_dir.join(format!("m{}", i));
            std::fs::write(&tmp, "message").unwrap();
            std::fs::rename(&tmp, writer_dir.join(format!("new/m{}", i))).unwrap();
        }
    });
    let t0 = Instant::now();
    let done = wait_delivered(&mut c, before, 3, Duration::from_secs(10)).unwrap();
    writer.join().unwrap();
    assert!(done.duration_since(t0) >= Duration::from_millis(90));
    assert_eq!(c.count().unwrap(), 4);
    match wait_delivered(&mut c, before, 4, Duration::from_secs(1)) {
        Err(BenchError::Protocol(m)) => assert!(m.contains("3 of 4 messages"), "{}", m),
        other => panic!("expected a timeout, got {:?}", other),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--drain`: the wait ends once the spool's queues are empty, and reports what is
/// left after the timeout.
#[test]
fn waits_for_an_empty_queue() {
    let dir = std::env::temp_dir().join(format!("postern-bench-drain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("active")).unwrap();
    std::fs::create_dir_all(dir.join("deferred")).unwrap();
    std::fs::write(dir.join("active/A1"), "m").unwrap();
    let mut c = Delivered::new(Mailbox::Queue(dir.clone()));
    let remover_dir = dir.clone();
    let remover = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        std::fs::remove_file(remover_dir.join("active/A1")).unwrap();
    });
    wait_delivered(&mut c, 1, 1, Duration::from_secs(10)).unwrap();
    remover.join().unwrap();
    assert_eq!(c.count().unwrap(), 0);
    std::fs::write(dir.join("deferred/B2"), "m").unwrap();
    match wait_delivered(&mut c, 0, 1, Duration::from_secs(1)) {
        Err(BenchError::Protocol(m)) => assert!(m.contains("1 messages still queued"), "{}", m),
        other => panic!("expected a timeout, got {:?}", other),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A scripted server on a loopback port: one session end to end, with PIPELINING.
#[test]
fn session_against_a_scripted_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        scripted_session(s, |cmd, line| match cmd {
            "EHLO" => b"250-test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            "MAIL" => b"250 2.1.0 Ok\r\n",
            "RCPT" if line.contains("bad") => b"550 5.1.1 no\r\n",
            "RCPT" => b"250 2.1.5 Ok\r\n",
            _ => b"500 what\r\n",
        })
    });
    let mut o = parse_args(&args(&[
        "--port",
        "1",
        "--to",
        "ok@x,bad@x",
        "--recipients",
        "2",
        "--timeout",
        "10",
    ]))
    .unwrap();
    o.size = 300;
    let mut res = SessionResult::default();
    session(&o, addr, None, 0, 2, None, &mut res).unwrap();
    assert_eq!(res.accepted, 2);
    assert_eq!(res.errors, 0);
    assert_eq!(res.latencies.len(), 2);
    let seen = server.join().unwrap();
    assert_eq!(seen[0], "EHLO postern-bench.localhost");
    assert_eq!(
        &seen[1..4],
        [
            "MAIL FROM:<bench@localhost>",
            "RCPT TO:<ok@x>",
            "RCPT TO:<bad@x>"
        ]
    );
    assert_eq!(seen.last().unwrap(), "QUIT");
}

/// One scripted SMTP session on `s`: the greeting, then `reply(command, line)` for each
/// command; DATA (354, then 250 after the final dot) and QUIT (221) are built in. The
/// command lines seen.
pub(super) fn scripted_session(
    s: std::net::TcpStream,
    reply: fn(&str, &str) -> &'static [u8],
) -> Vec<String> {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut seen = Vec::new();
    w.write_all(b"220 test ESMTP\r\n").unwrap();
    let mut in_data = false;
    let mut line = String::new();
    while r.read_line(&mut line).unwrap() > 0 {
        let l = line.trim_end().to_string();
        line.clear();
        if in_data {
            if l == "." {
                in_data = false;
                w.write_all(b"250 2.0.0 Ok: queued as ABC\r\n").unwrap();
            }
            continue;
        }
        seen.push(l.clone());
        let cmd = l.split(' ').next().unwrap_or("");
        let answer: &[u8] = match cmd {
            "DATA" => {
                in_data = true;
                b"354 go\r\n"
            }
            "QUIT" => {
                w.write_all(b"221 Bye\r\n").unwrap();
                break;
            }
            _ => reply(cmd, &l),
        };
        w.write_all(answer).unwrap();
    }
    seen
}
