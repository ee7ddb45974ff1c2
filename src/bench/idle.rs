//! The idle-session measurement of postern-bench (`--idle N`): hold N connections open after
//! their greetings (clients that connected and say nothing), then measure the server's
//! resident memory (the sum of VmRSS over its process and all its descendants, from /proc)
//! and how long a new client waits for its greeting meanwhile.
//!
//! Security role: none (client-side tooling). Reads /proc; opens only loopback connections
//! unless the caller allowed others. Logs nothing.

use super::BenchError;
use super::smtp::read_reply;
use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// Connect and read the greeting; the connection stays open and silent.
pub fn greeted(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, BenchError> {
    let s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| BenchError::Io(format!("connect {}", addr), e))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| BenchError::Io("socket".into(), e))?;
    let reader = s
        .try_clone()
        .map_err(|e| BenchError::Io("socket".into(), e))?;
    let reply = read_reply(&mut BufReader::new(reader))?;
    if reply.code != 220 {
        return Err(BenchError::Protocol(format!(
            "greeting: {} {}",
            reply.code,
            reply.lines.join(" / ")
        )));
    }
    Ok(s)
}

/// How long a new client waits from connect to the whole greeting.
pub fn time_greeting(addr: SocketAddr, timeout: Duration) -> Result<Duration, BenchError> {
    let t0 = Instant::now();
    let s = greeted(addr, timeout)?;
    let d = t0.elapsed();
    drop(s);
    Ok(d)
}

/// The VmRSS line of /proc/PID/status text, in KiB.
pub fn parse_vmrss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The parent PID in /proc/PID/stat text (the field after the parenthesized command).
pub fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The sum of VmRSS (KiB) of `pid` and every process descending from it, and how many
/// processes that was. Processes that end while this runs are skipped.
pub fn tree_rss_kib(proc_root: &Path, pid: u32) -> Result<(u64, usize), BenchError> {
    let rd = std::fs::read_dir(proc_root)
        .map_err(|e| BenchError::Io(format!("read {}", proc_root.display()), e))?;
    let mut parents = Vec::new();
    for entry in rd.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(pp) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .as_deref()
            .and_then(parse_ppid)
        {
            parents.push((p, pp));
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    let mut total = 0;
    let mut n = 0;
    for p in tree {
        if let Some(kib) = std::fs::read_to_string(proc_root.join(p.to_string()).join("status"))
            .ok()
            .as_deref()
            .and_then(parse_vmrss)
        {
            total += kib;
            n += 1;
        }
    }
    if n == 0 {
        return Err(BenchError::Protocol(format!("no process {}", pid)));
    }
    Ok((total, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn status_and_stat_fields() {
        assert_eq!(
            parse_vmrss("Name:\tx\nVmHWM:\t  900 kB\nVmRSS:\t   812 kB\n"),
            Some(812)
        );
        assert_eq!(parse_vmrss("Name:\tx\n"), None);
        assert_eq!(parse_ppid("42 (a) b) S 7 42 42 0"), Some(7));
        assert_eq!(parse_ppid("42 (smtpd) R 1 2 3"), Some(1));
        assert_eq!(parse_ppid("garbage"), None);
    }

    /// A fake /proc: 10 with children 11 and 12, 12 with child 13, and 20 unrelated.
    #[test]
    fn rss_of_a_process_tree() {
        let root = std::env::temp_dir().join(format!("postern-bench-proc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (pid, ppid, rss) in [
            (10, 1, 100),
            (11, 10, 20),
            (12, 10, 3),
            (13, 12, 4),
            (20, 1, 999),
        ] {
            let d = root.join(pid.to_string());
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("stat"), format!("{pid} (p) S {ppid} 0 0")).unwrap();
            std::fs::write(d.join("status"), format!("VmRSS:\t{rss} kB\n")).unwrap();
        }
        std::fs::create_dir_all(root.join("self")).unwrap();
        assert_eq!(tree_rss_kib(&root, 10).unwrap(), (127, 4));
        assert_eq!(tree_rss_kib(&root, 13).unwrap(), (4, 1));
        assert!(tree_rss_kib(&root, 99).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Against a scripted listener: the greeting is read and timed; a non-220 is an error.
    #[test]
    fn greetings_are_read() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for text in ["220 ok ESMTP\r\n", "554 no\r\n"] {
                let (mut s, _) = l.accept().unwrap();
                s.write_all(text.as_bytes()).unwrap();
            }
        });
        let t = Duration::from_secs(10);
        time_greeting(addr, t).unwrap();
        assert!(matches!(greeted(addr, t), Err(BenchError::Protocol(_))));
        server.join().unwrap();
    }
}
