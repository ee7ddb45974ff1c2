//! Kept user processes: the privileged helper's mailbox writers, one per recipient uid and
//! gid, reused from request to request instead of a fork per request.
//!
//! A mailbox or Maildir request (`Op::Mbox`, `Op::Maildir`) that the helper has validated
//! goes to a process running as the request's uid and gid: the helper program itself,
//! executed as `local work` with those ids (std's `Command::uid`/`gid`: gid, then an empty
//! supplementary group list, then uid, before exec). It reads requests on its stdin and
//! writes the replies on its stdout, one at a time, until end of input. Since it is a fresh
//! program (exec, not a copy of the helper), it holds nothing of the helper's: no table
//! connection, no secret read from a configuration file, only its two pipes. Postfix's
//! local(8) and virtual(8) get the same saving by switching their effective uid in a
//! long-lived root process; here the writing is never done by a process that can become
//! root again.
//!
//! Each helper keeps at most `MAX_KEPT` such processes. One is retired (its input closed,
//! then reaped: it exits at end of input) after `MAX_USE` requests, when it has been idle
//! for `MAX_IDLE` (checked at the next request), when room is needed for another uid (the
//! least recently used goes), or when it fails. Command and file requests still run in a
//! forked child each (`run_child`), since each needs its own environment.
//!
//! Failure rules, as for the helper pool: a request that could not be sent (the process
//! had ended) is sent once more to a new process; an answer lost after the request was
//! sent is an error (the caller defers), never a repetition.
//!
//! Security role: the processes run as the recipient, never as root unless the recipient
//! is root; they check that every request they get names their own ids and refuse any
//! other. Logs nothing; failures become 4.3.0 deferrals through the caller.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command};
use std::time::{Duration, Instant};

use super::helper_failed;
use super::pool::spawn_piped;
use crate::delivery::request::{
    Op, Reply, decode_op, decode_replies, encode_op, encode_replies, execute, read_frame,
    write_frame,
};

/// Kept processes per helper.
pub const MAX_KEPT: usize = 8;
/// Requests a kept process serves before it is retired (Postfix's $max_use is 100).
pub const MAX_USE: u32 = 1000;
/// Idle time after which a kept process is retired (Postfix's $max_idle is 100 s).
pub const MAX_IDLE: Duration = Duration::from_secs(60);

struct Kept {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    used: u32,
    last: Instant,
}

impl Kept {
    fn start(program: &PathBuf, uid: u32, gid: u32) -> io::Result<Kept> {
        let mut command = Command::new(program);
        command.arg("work").current_dir("/").uid(uid).gid(gid);
        let (child, stdin, stdout) = spawn_piped(&mut command)?;
        Ok(Kept {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            used: 0,
            last: Instant::now(),
        })
    }

    /// Close its input and reap it (it exits at end of input).
    fn retire(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

/// A helper's kept processes, by (uid, gid).
pub struct KeptProcs {
    program: Option<PathBuf>,
    procs: HashMap<(u32, u32), Kept>,
}

/// What became of a request sent to a kept process.
enum Exchange {
    Answered(Vec<u8>),
    /// The process could not take it: nothing was performed.
    Refused(String),
    /// Sent, but no answer came back.
    Lost(String),
}

impl KeptProcs {
    /// `program`: the helper program to execute as `local work` (None: never keep
    /// processes; every request then forks).
    pub fn new(program: Option<PathBuf>) -> KeptProcs {
        KeptProcs {
            program,
            procs: HashMap::new(),
        }
    }

    /// Perform a mailbox or Maildir request in the kept process for its ids: `op.replies()`
    /// replies. None when no process can be started (the caller forks instead).
    pub fn perform(&mut self, op: &Op) -> Option<Vec<Reply>> {
        let program = self.program.clone()?;
        let key = op.ids();
        let n = op.replies();
        self.retire_idle(key);
        let payload = encode_op(op);
        for attempt in 0..2 {
            if !self.procs.contains_key(&key) {
                self.make_room();
                match Kept::start(&program, key.0, key.1) {
                    Ok(k) => {
                        self.procs.insert(key, k);
                    }
                    Err(_) if attempt == 0 => return None,
                    Err(e) => return Some(vec![helper_failed(e.to_string()); n]),
                }
            }
            let k = self.procs.get_mut(&key)?;
            k.used += 1;
            k.last = Instant::now();
            let sent = exchange(k, &payload);
            let worn = k.used >= MAX_USE;
            match sent {
                Exchange::Answered(buf) => {
                    if worn {
                        self.retire(key);
                    }
                    let failed = |e: String| vec![helper_failed(e); n];
                    return Some(decode_replies(&buf, n).unwrap_or_else(|e| failed(e.to_string())));
                }
                Exchange::Refused(_) if attempt == 0 => self.retire(key),
                Exchange::Refused(why) | Exchange::Lost(why) => {
                    self.retire(key);
                    return Some(vec![helper_failed(why); n]);
                }
            }
        }
        None
    }

    fn retire(&mut self, key: (u32, u32)) {
        if let Some(k) = self.procs.remove(&key) {
            k.retire();
        }
    }

    /// Retire the processes idle for longer than `MAX_IDLE`, except `keep`'s.
    fn retire_idle(&mut self, keep: (u32, u32)) {
        let idle: Vec<(u32, u32)> = self
            .procs
            .iter()
            .filter(|(key, k)| **key != keep && k.last.elapsed() > MAX_IDLE)
            .map(|(key, _)| *key)
            .collect();
        for key in idle {
            self.retire(key);
        }
    }

    /// Below `MAX_KEPT`: retire the least recently used process if need be.
    fn make_room(&mut self) {
        if self.procs.len() < MAX_KEPT {
            return;
        }
        if let Some(key) = self
            .procs
            .iter()
            .min_by_key(|(_, k)| k.last)
            .map(|(k, _)| *k)
        {
            self.retire(key);
        }
    }
}

impl Drop for KeptProcs {
    fn drop(&mut self) {
        let keys: Vec<(u32, u32)> = self.procs.keys().copied().collect();
        for key in keys {
            self.retire(key);
        }
    }
}

fn exchange(k: &mut Kept, payload: &[u8]) -> Exchange {
    if let Err(e) = write_frame(&mut k.stdin, payload).and_then(|()| k.stdin.flush()) {
        return Exchange::Refused(e.to_string());
    }
    match read_frame(&mut k.stdout) {
        Ok(Some(buf)) => Exchange::Answered(buf),
        Ok(None) => Exchange::Lost("user process ended without an answer".into()),
        Err(e) => Exchange::Lost(format!("user process: {}", e)),
    }
}

/// `local work`: perform the mailbox and Maildir requests read on stdin as this process's
/// own ids, until end of input. A request for other ids, or of another kind, is refused.
pub fn work() -> i32 {
    let ids = (crate::sys::euid(), crate::sys::egid());
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    loop {
        let buf = match read_frame(&mut input) {
            Ok(Some(b)) => b,
            Ok(None) => return 0,
            Err(_) => return 1,
        };
        let replies = match decode_op(&buf) {
            Ok(op) if !matches!(op, Op::Mbox { .. } | Op::Maildir { .. }) => {
                vec![helper_failed("not a mailbox request".into()); op.replies()]
            }
            Ok(op) if op.ids() != ids => vec![
                helper_failed(format!(
                    "request for uid/gid {}/{} sent to {}/{}",
                    op.ids().0,
                    op.ids().1,
                    ids.0,
                    ids.1
                ));
                op.replies()
            ],
            Ok(op) => execute(&op),
            Err(_) => return 1,
        };
        if write_frame(&mut output, &encode_replies(&replies))
            .and_then(|()| output.flush())
            .is_err()
        {
            return 1;
        }
    }
}
