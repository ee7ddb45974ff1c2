//! postqueue(1): Postfix queue control for every user. `postqueue [-v] [-c dir] -p | -j |
//! -f | -i queue_id | -s site`. Installed set-gid setgid_group: the listing comes from the
//! running system's showq socket and flush requests go to the qmgr FIFO, both in public/.
//! Root and mail_owner read the spool directly when the system is down. As a set-gid
//! program it takes `-c`/MAIL_CONFIG naming another directory only as Postfix does
//! (`postern::postdrop::check_config_dir`; refused with exit status 1). Exit codes follow
//! sysexits.h (64 usage, 69 mail system down, 78 configuration).

use postern::config::{Config, config_dir};
use postern::master::pidfile;
use postern::qmgr::control::{self, Request, SendError};
use postern::queue::{Queue, is_queue_id};
use postern::{showq, sys};

const EX_USAGE: i32 = 64;
const EX_UNAVAILABLE: i32 = 69;
const EX_CONFIG: i32 = 78;

fn fatal(code: i32, msg: impl std::fmt::Display) -> ! {
    eprintln!("postqueue: fatal: {}", msg);
    std::process::exit(code);
}

fn usage() -> ! {
    fatal(
        EX_USAGE,
        "usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site",
    )
}

/// Root and the spool's owner may read the spool themselves. The owner is taken from the
/// spool itself, not from a configuration the (set-gid) caller may have chosen.
fn privileged(queue: &Queue) -> bool {
    use std::os::unix::fs::MetadataExt;
    sys::uid() == 0
        || std::fs::metadata(queue.root().join("active")).is_ok_and(|m| m.uid() == sys::uid())
}

/// Copy the listing from the showq connection to `out` as it arrives (a listing of 100,000
/// messages is never held here); returns its last bytes.
fn copy_listing(
    conn: &mut impl std::io::Read,
    out: impl std::io::Write,
) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(out);
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail = Vec::new();
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(64);
        tail.drain(..keep);
    }
    out.flush()?;
    Ok(tail)
}

fn list(queue: &Queue, json: bool) {
    let layout = if json {
        showq::Layout::Json
    } else {
        showq::Layout::Compat
    };
    let stdout = std::io::stdout().lock();
    match showq::request(queue, layout) {
        // Copied as it arrives: a listing of 100,000 messages is never held here.
        Ok(mut conn) => match copy_listing(&mut conn, stdout) {
            // The reader went away (`mailq | head`): nothing to say.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => fatal(EX_UNAVAILABLE, format!("queue listing: {}", e)),
            Ok(tail) if layout == showq::Layout::Compat && !showq::is_complete(&tail) => fatal(
                EX_UNAVAILABLE,
                "the queue listing ended early: the showq service stopped",
            ),
            Ok(_) => {}
        },
        Err(e) => {
            let running = pidfile::running(&pidfile::path(queue.root())).is_some();
            if !running && privileged(queue) {
                eprintln!("postqueue: warning: Mail system is down -- accessing queue directly");
                let _ = showq::write_listing(queue, layout, std::io::BufWriter::new(stdout));
            } else if running {
                fatal(
                    EX_UNAVAILABLE,
                    format!("Connect to the Postfix showq service: {}", e),
                );
            } else {
                fatal(
                    EX_UNAVAILABLE,
                    "Queue report unavailable - mail system is down",
                );
            }
        }
    }
}

fn flush(queue: &Queue, req: Request) {
    match control::send(queue, &req) {
        Ok(()) => {}
        Err(SendError::NotRunning) => fatal(
            EX_UNAVAILABLE,
            match req {
                Request::FlushSite(_) => "Cannot flush mail queue for site - mail system is down",
                _ => "Cannot flush mail queue - mail system is down",
            },
        ),
        Err(e) => fatal(EX_UNAVAILABLE, format!("Cannot flush mail queue: {}", e)),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = getopts::Options::new();
    opts.optopt("c", "", "configuration directory", "DIR");
    opts.optflag("f", "", "flush");
    opts.optopt("i", "", "flush one message", "ID");
    opts.optflag("j", "", "JSON listing");
    opts.optflag("p", "", "listing");
    opts.optopt("s", "", "flush one site", "SITE");
    opts.optflagmulti("v", "", "verbose (ignored)");
    let m = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("postqueue: fatal: {}", e);
            usage();
        }
    };
    let actions = ["f", "i", "j", "p", "s"]
        .iter()
        .filter(|o| m.opt_present(o))
        .count();
    if actions != 1 || !m.free.is_empty() {
        usage();
    }
    let dir = config_dir(m.opt_str("c").as_deref());
    // Set-gid: another configuration directory only when the default main.cf allows it.
    postern::postdrop::require_own_config_dir("postqueue", &dir);
    let cfg = Config::load(&dir).unwrap_or_else(|e| fatal(EX_CONFIG, e));
    let queue = Queue::from_config(&cfg);
    if m.opt_present("p") || m.opt_present("j") {
        list(&queue, m.opt_present("j"));
    } else if m.opt_present("f") {
        flush(&queue, Request::Flush);
    } else if let Some(id) = m.opt_str("i") {
        if !is_queue_id(&id) {
            fatal(EX_USAGE, format!("invalid mail queue id: {}", id));
        }
        flush(&queue, Request::FlushOne(id));
    } else if let Some(site) = m.opt_str("s") {
        if !control::valid_site(&site) {
            fatal(EX_USAGE, format!("bad site name: {}", site));
        }
        flush(&queue, Request::FlushSite(site.to_ascii_lowercase()));
    }
}
