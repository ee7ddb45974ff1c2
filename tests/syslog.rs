//! Log lines reach syslog with facility mail and Postfix's tag `postfix/<component>[pid]`,
//! the form pflogsumm and fail2ban read; with maillog_file set they reach that file in the
//! same form and syslog gets none (Postfix 3.4+: one or the other). The PID field is the
//! logging thread's kernel thread ID. Buffered as in the daemon, no line is lost.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use postern::config::Config;
use postern::log;

#[test]
fn syslog_or_maillog_file_with_postfix_tags() {
    let dir = std::env::temp_dir().join(format!("postern-syslog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("log.sock");
    let server = UnixDatagram::bind(&socket).unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let tid = postern::sys::thread_id();
    let tag = format!("postfix/smtpd[{}]: connect from localhost[127.0.0.1]", tid);

    // Without maillog_file: syslog.
    let cfg = Config::from_pairs(Path::new("/nonexistent"), &[("myhostname", "www.a.org")]);
    log::init_with_socket(&cfg, false, &socket);
    log::lines::connect("localhost[127.0.0.1]");
    log::warning("smtpd", "something odd");
    let mut buf = [0u8; 2048];
    let n = server.recv(&mut buf).unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    // <22> is facility mail (2) * 8 + severity info (6).
    assert!(first.starts_with("<22>"), "{}", first);
    assert!(first.trim_end().ends_with(&tag), "{}", first);
    let n = server.recv(&mut buf).unwrap();
    let second = String::from_utf8_lossy(&buf[..n]).into_owned();
    // <20> is mail.warning.
    assert!(
        second.starts_with("<20>") && second.contains("warning: something odd"),
        "{}",
        second
    );

    // With maillog_file: the file only.
    let maillog = dir.join("maillog");
    let cfg = Config::from_pairs(
        Path::new("/nonexistent"),
        &[
            ("myhostname", "www.a.org"),
            ("maillog_file", maillog.to_str().unwrap()),
        ],
    );
    log::init_with_socket(&cfg, false, &socket);
    log::lines::connect("localhost[127.0.0.1]");
    let other = std::thread::spawn(|| {
        log::info("qmgr", "from another thread");
        postern::sys::thread_id()
    })
    .join()
    .unwrap();
    let text = std::fs::read_to_string(&maillog).unwrap();
    let mut lines = text.lines();
    let line = lines.next().unwrap();
    // "Nov 27 23:01:49 www postfix/smtpd[123]: connect from ..."
    assert_eq!(&line[15..], format!(" www {}", tag), "{}", line);
    let line = lines.next().unwrap();
    assert!(
        line.ends_with(&format!("postfix/qmgr[{}]: from another thread", other)),
        "{}",
        line
    );
    assert_ne!(other, tid);
    assert!(
        server.recv(&mut buf).is_err(),
        "syslog got a line too: {}",
        String::from_utf8_lossy(&buf)
    );

    // Buffered (as the daemon): lines from threads logging at once all reach the file by
    // `log::stop`, and a fatal line is in the file when `log::fatal` returns.
    log::start_buffering().unwrap();
    let before = std::fs::read_to_string(&maillog).unwrap().lines().count();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    log::info("smtpd", format!("line {} of thread {}", i, t));
                }
            })
        })
        .collect();
    log::fatal("master", "the end");
    assert!(
        std::fs::read_to_string(&maillog)
            .unwrap()
            .contains("postfix/master["),
        "fatal line not written at once"
    );
    for t in threads {
        t.join().unwrap();
    }
    log::stop();
    let text = std::fs::read_to_string(&maillog).unwrap();
    assert_eq!(text.lines().count(), before + 8_001);
    for t in 0..4 {
        assert!(text.contains(&format!(": line 1999 of thread {}\n", t)));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
