//! postsuper(1): superuser queue maintenance. `postsuper [-psSv] [-c dir] [-d queue_id]
//! [-h queue_id] [-H queue_id] [-r queue_id] [queue...]`; queue_id may be `ALL` or `-`
//! (IDs from standard input). See `postern::postsuper`.

use std::io::BufRead;

use postern::config::{Config, config_dir};
use postern::master::pidfile;
use postern::postsuper::{self, Super, say};
use postern::queue::admin::Op;
use postern::queue::{Queue, QueueName};
use postern::{log, sys};

fn fatal(msg: impl std::fmt::Display) -> ! {
    eprintln!("postsuper: fatal: {}", msg);
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = getopts::Options::new();
    opts.optopt("c", "", "configuration directory", "DIR");
    for o in ["d", "h", "H", "r", "e", "f"] {
        opts.optmulti(o, "", "", "ID");
    }
    for f in ["p", "s", "S", "v"] {
        opts.optflagmulti(f, "", "");
    }
    let m = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => fatal(format!(
            "{}\nusage: postsuper [-c config_dir] [-d queue_id] [-h queue_id] [-H queue_id] [-p] [-r queue_id] [-s] [-v] [queue...]",
            e
        )),
    };
    let dir = config_dir(m.opt_str("c").as_deref());
    let cfg = Config::load(&dir).unwrap_or_else(|e| fatal(e));
    // Root works as mail_owner and must know who that is (Postfix stops here too); others
    // are only compared with it.
    let owner = if sys::is_root() {
        let (uid, gid, _) = postern::master::control::mail_owner(&cfg).unwrap_or_else(|e| fatal(e));
        Some((uid, gid))
    } else {
        sys::user_by_name(cfg.get("mail_owner"))
            .ok()
            .flatten()
            .map(|u| (u.uid, u.gid))
    };
    if !sys::is_root() && owner.map(|(uid, _)| uid) != Some(sys::uid()) {
        fatal("use of this command is reserved for the superuser");
    }
    if !m.opt_strs("e").is_empty() || !m.opt_strs("f").is_empty() {
        fatal("options -e and -f are not supported by Postern");
    }
    log::init(&cfg, false);
    // Asked before the drop: the pid file is root's.
    let queue = Queue::from_config(&cfg);
    let running = pidfile::running(&pidfile::path(queue.root())).is_some();
    // As Postfix's postsuper: the spool is mail_owner's, and root works in it as mail_owner,
    // so that a link planted there cannot lead a root process elsewhere.
    if sys::is_root()
        && let Some((uid, gid)) = owner
        && let Err(e) = sys::drop_privileges(uid, gid)
    {
        fatal(format!(
            "drop privileges to {}: {}",
            cfg.get("mail_owner"),
            e
        ));
    }
    let mut only = Vec::new();
    for name in &m.free {
        match QueueName::from_name(name) {
            Some(q) if q != QueueName::Corrupt => only.push(q),
            _ => fatal(format!("invalid directory name: {}", name)),
        }
    }
    if m.opt_present("s") {
        postsuper::structure(&queue, running);
    }
    if m.opt_present("p") {
        postsuper::purge(&queue, running, m.opt_present("v"));
    }
    let mut s = Super::new(queue, running, only);
    let mut stdin_used = false;
    for (opt, op) in [
        ("r", Op::Requeue),
        ("d", Op::Delete),
        ("h", Op::Hold),
        ("H", Op::Release),
    ] {
        for arg in m.opt_strs(opt) {
            match arg.as_str() {
                "ALL" => s.all(op),
                "-" => {
                    if stdin_used {
                        fatal("the standard input can be read only once");
                    }
                    stdin_used = true;
                    for line in std::io::stdin().lock().lines() {
                        let Ok(line) = line else { break };
                        let id = line.trim();
                        if !id.is_empty() {
                            s.one(op, id);
                        }
                    }
                }
                id => {
                    s.one(op, id);
                }
            }
        }
    }
    for line in s.summaries() {
        say(&line);
    }
    std::process::exit(if s.missing > 0 { 1 } else { 0 });
}
