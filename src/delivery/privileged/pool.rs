//! The delivery agent's side of the privileged helper: a pool of `POOL` helper processes
//! (`local serve CONFIG_DIR`), each behind a mutex, and the request/answer exchange over
//! their pipes (see the parent module for the process model and restart rules).
//!
//! Security role: runs in the unprivileged delivery agent; the helpers it talks to trust
//! nothing it sends. Logs nothing; failures become 4.3.0 deferrals.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::helper_failed;
use crate::config::Config;
use crate::delivery::command::DEFAULT_PATH;
use crate::delivery::request::{
    Op, Reply, decode_replies, decode_reply, encode_op, read_frame, write_frame,
};

/// Number of helper processes in a `HelperHandle` pool.
pub const POOL: usize = 4;

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Proc {
    fn start(program: &Path, config_dir: &Path) -> io::Result<Proc> {
        let mut command = Command::new(program);
        command.arg("serve").arg(config_dir);
        let (child, stdin, stdout) = spawn_piped(&mut command)?;
        Ok(Proc {
            child,
            stdin,
            stdout,
        })
    }

    fn stop(mut self) {
        drop(self.stdin);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `command` (the helper program in one of its modes) with a clean environment (PATH
/// only) and pipes for its stdin and stdout.
pub(super) fn spawn_piped(command: &mut Command) -> io::Result<(Child, ChildStdin, ChildStdout)> {
    let mut child = command
        .env_clear()
        .env("PATH", DEFAULT_PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("no stdin"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout"))?;
    Ok((child, stdin, stdout))
}

/// The delivery agent's handle on the helper processes. `Send + Sync`.
pub struct HelperHandle {
    program: PathBuf,
    config_dir: PathBuf,
    slots: Vec<Mutex<Option<Proc>>>,
    next: AtomicUsize,
}

impl HelperHandle {
    /// Start the pool (call as root, before dropping privileges).
    pub fn spawn(program: &Path, config_dir: &Path) -> io::Result<HelperHandle> {
        let slots = (0..POOL)
            .map(|_| Proc::start(program, config_dir).map(|p| Mutex::new(Some(p))))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(HelperHandle {
            program: program.to_path_buf(),
            config_dir: config_dir.to_path_buf(),
            slots,
            next: AtomicUsize::new(0),
        })
    }

    /// An idle helper if there is one (rotating the starting point), else wait for one.
    fn take_slot(&self) -> MutexGuard<'_, Option<Proc>> {
        let n = self.slots.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for k in 0..n {
            match self.slots[(first + k) % n].try_lock() {
                Ok(g) => return g,
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        self.slots[first].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Have a helper perform `op` and wait for the answer (for an `Op::Mbox`, the first
    /// record's; use `request_all`).
    pub fn request(&self, op: &Op) -> Reply {
        self.request_all(op)
            .into_iter()
            .next()
            .unwrap_or_else(|| helper_failed("no answer".into()))
    }

    /// Have a helper perform `op` and wait for the answers: exactly `op.replies()` of them
    /// (one per record of an `Op::Mbox` or message of an `Op::Maildir`, in order).
    pub fn request_all(&self, op: &Op) -> Vec<Reply> {
        let n = op.replies();
        let failed = |why: String| vec![helper_failed(why); n];
        let decode = |buf: &[u8]| match op.batched() {
            true => decode_replies(buf, n),
            false => decode_reply(buf).map(|r| vec![r]),
        };
        match self.exchange(&encode_op(op)) {
            Ok(buf) => decode(&buf).unwrap_or_else(|e| failed(e.to_string())),
            Err(why) => failed(why),
        }
    }

    /// Send one request frame to a helper and return its answer frame. A helper that cannot
    /// take the request is restarted and the request sent once more; an answer lost after
    /// the request was read is an error, never a repetition.
    pub(super) fn exchange(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut slot = self.take_slot();
        for attempt in 0..2 {
            if slot.is_none() {
                match Proc::start(&self.program, &self.config_dir) {
                    Ok(p) => *slot = Some(p),
                    Err(e) => return Err(format!("cannot start: {}", e)),
                }
            }
            let Some(p) = slot.as_mut() else {
                continue;
            };
            if let Err(e) = write_frame(&mut p.stdin, payload) {
                // Nothing was performed: the helper never read a whole request.
                if let Some(p) = slot.take() {
                    p.stop();
                }
                if attempt == 0 {
                    continue;
                }
                return Err(e.to_string());
            }
            return match read_frame(&mut p.stdout) {
                Ok(Some(buf)) => Ok(buf),
                Ok(None) | Err(_) => {
                    if let Some(p) = slot.take() {
                        p.stop();
                    }
                    Err("no answer".into())
                }
            };
        }
        Err("cannot send request".into())
    }
}

impl Drop for HelperHandle {
    fn drop(&mut self) {
        for s in &self.slots {
            let mut slot = s.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(mut p) = slot.take() {
                drop(p.stdin);
                let _ = p.child.wait();
            }
        }
    }
}

/// The helper program: `$daemon_directory/local` when it exists, else `local` next to the
/// running executable.
pub fn helper_program(cfg: &Config) -> PathBuf {
    let installed = Path::new(cfg.get("daemon_directory")).join("local");
    if installed.is_file() {
        return installed;
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("local")))
        .unwrap_or(installed)
}
