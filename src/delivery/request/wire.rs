//! The length-prefixed wire format between the local delivery agent and the privileged
//! helper, and between the helper and its per-request children (see the parent module for
//! the field layout). Decoding treats its input as untrusted: every length is checked with
//! checked arithmetic against the data present, so no input panics or allocates more than
//! its frame. An answer carries its status and DSN as text; the DSN is read back with
//! `Dsn::parse`, and a bad one, or a status that is not the DSN's class, is a protocol
//! error. Logs nothing.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CommandJob, LockPolicy, MAX_BATCH, MAX_FRAME, Op, Reply, Source, Status};
use crate::reply::Dsn;

/// Most arguments of a pipe(8) command (one per recipient with `${recipient}`).
const MAX_ARGV: u64 = 100_000;

/// A malformed frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoError(pub String);

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "protocol error: {}", self.0)
    }
}

struct Fields(Vec<u8>);

impl Fields {
    fn put(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
    }
    fn num(&mut self, n: u64) {
        self.put(n.to_string().as_bytes());
    }
    fn path(&mut self, p: &Path) {
        self.put(p.as_os_str().as_encoded_bytes());
    }
    fn source(&mut self, s: &Source) {
        match s {
            Source::None => self.put(b"none"),
            Source::Table { spec, key } => {
                self.put(b"table");
                self.put(spec.as_bytes());
                self.put(key.as_bytes());
            }
            Source::Include(p) => {
                self.put(b"include");
                self.path(p);
            }
            Source::Pipe(service) => {
                self.put(b"pipe");
                self.put(service.as_bytes());
            }
            Source::Mailbox(user) => {
                self.put(b"mailbox");
                self.put(user.as_bytes());
            }
            Source::Forward { path, user } => {
                self.put(b"forward");
                self.path(path);
                self.put(user.as_bytes());
            }
        }
    }
    fn locks(&mut self, l: &LockPolicy) {
        self.num(l.dotlock as u64);
        self.num(l.fcntl as u64);
        self.num(l.attempts as u64);
        self.num(l.delay.as_millis() as u64);
        self.num(l.stale.as_secs());
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self) -> Result<&'a [u8], ProtoError> {
        let short = || ProtoError("truncated field".into());
        let start = self.pos.checked_add(4).ok_or_else(short)?;
        let len = self.data.get(self.pos..start).ok_or_else(short)?;
        let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let end = start.checked_add(n).ok_or_else(short)?;
        let b = self.data.get(start..end).ok_or_else(short)?;
        self.pos = end;
        Ok(b)
    }
    fn string(&mut self) -> Result<String, ProtoError> {
        String::from_utf8(self.take()?.to_vec()).map_err(|_| ProtoError("bad text".into()))
    }
    fn num(&mut self) -> Result<u64, ProtoError> {
        self.string()?
            .parse()
            .map_err(|_| ProtoError("bad number".into()))
    }
    fn id(&mut self) -> Result<u32, ProtoError> {
        u32::try_from(self.num()?).map_err(|_| ProtoError("bad id".into()))
    }
    fn path(&mut self) -> Result<PathBuf, ProtoError> {
        Ok(PathBuf::from(self.string()?))
    }
    fn source(&mut self) -> Result<Source, ProtoError> {
        match self.take()? {
            b"none" => Ok(Source::None),
            b"table" => Ok(Source::Table {
                spec: self.string()?,
                key: self.string()?,
            }),
            b"include" => Ok(Source::Include(self.path()?)),
            b"pipe" => Ok(Source::Pipe(self.string()?)),
            b"mailbox" => Ok(Source::Mailbox(self.string()?)),
            b"forward" => Ok(Source::Forward {
                path: self.path()?,
                user: self.string()?,
            }),
            _ => Err(ProtoError("unknown source".into())),
        }
    }
    fn locks(&mut self) -> Result<LockPolicy, ProtoError> {
        Ok(LockPolicy {
            dotlock: self.num()? != 0,
            fcntl: self.num()? != 0,
            attempts: self.num()?.min(1000) as u32,
            delay: Duration::from_millis(self.num()?.min(60_000)),
            stale: Duration::from_secs(self.num()?),
        })
    }
    /// A count (1 to `MAX_BATCH`) and that many byte strings.
    fn records(&mut self) -> Result<Vec<Vec<u8>>, ProtoError> {
        let n = self.num()?;
        if n == 0 || n > MAX_BATCH as u64 {
            return Err(ProtoError("bad record count".into()));
        }
        let mut records = Vec::new();
        for _ in 0..n {
            records.push(self.take()?.to_vec());
        }
        Ok(records)
    }
    fn end(&self) -> Result<(), ProtoError> {
        if self.pos == self.data.len() {
            Ok(())
        } else {
            Err(ProtoError("trailing data".into()))
        }
    }
}

/// Encode a request as frame payload.
pub fn encode_op(op: &Op) -> Vec<u8> {
    let mut f = Fields(Vec::new());
    let (uid, gid) = op.ids();
    let kind: &[u8] = match op {
        Op::Mbox { .. } => b"mbox",
        Op::Maildir { .. } => b"maildir",
        Op::File { .. } => b"file",
        Op::Command { .. } => b"command",
    };
    f.put(kind);
    f.num(uid as u64);
    f.num(gid as u64);
    match op {
        Op::Mbox {
            path,
            user,
            limit,
            locks,
            create,
            records,
            ..
        } => {
            f.path(path);
            f.put(user.as_bytes());
            f.num(*limit);
            f.locks(locks);
            f.num(*create as u64);
            f.num(records.len() as u64);
            for r in records {
                f.put(r);
            }
        }
        Op::Maildir {
            dir,
            user,
            limit,
            host,
            contents,
            ..
        } => {
            f.path(dir);
            f.put(user.as_bytes());
            f.num(*limit);
            f.put(host.as_bytes());
            f.num(contents.len() as u64);
            for m in contents {
                f.put(m);
            }
        }
        Op::File {
            path,
            source,
            limit,
            locks,
            record,
            ..
        } => {
            f.source(source);
            f.path(path);
            f.num(*limit);
            f.locks(locks);
            f.put(record);
        }
        Op::Command { source, job, .. } => {
            f.source(source);
            f.put(job.command.as_bytes());
            f.put(job.shell.as_bytes());
            f.path(&job.dir);
            f.num(job.dir_required as u64);
            f.num(job.limit.as_millis() as u64);
            f.num(job.env.len() as u64);
            for (k, v) in &job.env {
                f.put(k.as_bytes());
                f.put(v.as_bytes());
            }
            f.put(&job.input);
            f.num(job.argv.len() as u64);
            for a in &job.argv {
                f.put(a.as_bytes());
            }
        }
    }
    f.0
}

/// Decode a request frame payload.
pub fn decode_op(data: &[u8]) -> Result<Op, ProtoError> {
    let mut c = Cursor { data, pos: 0 };
    let kind = c.take()?;
    let uid = c.id()?;
    let gid = c.id()?;
    let op = match kind {
        b"mbox" => {
            let path = c.path()?;
            let user = c.string()?;
            let limit = c.num()?;
            let locks = c.locks()?;
            let create = c.num()? != 0;
            let records = c.records()?;
            Op::Mbox {
                path,
                user,
                uid,
                gid,
                limit,
                locks,
                create,
                records,
            }
        }
        b"maildir" => Op::Maildir {
            dir: c.path()?,
            user: c.string()?,
            uid,
            gid,
            limit: c.num()?,
            host: c.string()?,
            contents: c.records()?,
        },
        b"file" => Op::File {
            source: c.source()?,
            path: c.path()?,
            uid,
            gid,
            limit: c.num()?,
            locks: c.locks()?,
            record: c.take()?.to_vec(),
        },
        b"command" => {
            let source = c.source()?;
            let command = c.string()?;
            let shell = c.string()?;
            let dir = c.path()?;
            let dir_required = c.num()? != 0;
            let limit = Duration::from_millis(c.num()?);
            let n = c.num()?;
            if n > 1000 {
                return Err(ProtoError("too many environment entries".into()));
            }
            let mut env = Vec::new();
            for _ in 0..n {
                env.push((c.string()?, c.string()?));
            }
            let input = c.take()?.to_vec();
            let n = c.num()?;
            if n > MAX_ARGV {
                return Err(ProtoError("too many arguments".into()));
            }
            let mut argv = Vec::new();
            for _ in 0..n {
                argv.push(c.string()?);
            }
            Op::Command {
                source,
                uid,
                gid,
                job: CommandJob {
                    command,
                    argv,
                    shell,
                    dir_required,
                    env,
                    dir,
                    limit,
                    input,
                },
            }
        }
        _ => return Err(ProtoError("unknown request kind".into())),
    };
    c.end()?;
    Ok(op)
}

/// Encode an answer.
pub fn encode_reply(r: &Reply) -> Vec<u8> {
    let mut f = Fields(Vec::new());
    f.put(r.status.as_str().as_bytes());
    f.put(r.dsn.as_str().as_bytes());
    f.put(r.text.as_bytes());
    f.0
}

impl Cursor<'_> {
    fn reply(&mut self) -> Result<Reply, ProtoError> {
        let status = match self.take()? {
            b"sent" => Status::Sent,
            b"deferred" => Status::Deferred,
            b"bounced" => Status::Bounced,
            _ => return Err(ProtoError("unknown status".into())),
        };
        let dsn = Dsn::parse(&self.string()?).ok_or_else(|| ProtoError("bad DSN".into()))?;
        if Status::of(dsn) != status {
            return Err(ProtoError("status does not match the DSN".into()));
        }
        Ok(Reply::new(dsn, self.string()?))
    }
}

/// Decode an answer.
pub fn decode_reply(data: &[u8]) -> Result<Reply, ProtoError> {
    let mut c = Cursor { data, pos: 0 };
    let r = c.reply()?;
    c.end()?;
    Ok(r)
}

/// Encode the answers to a mailbox or Maildir request: a count, then each answer's fields.
pub fn encode_replies(rs: &[Reply]) -> Vec<u8> {
    let mut f = Fields(Vec::new());
    f.num(rs.len() as u64);
    for r in rs {
        f.put(r.status.as_str().as_bytes());
        f.put(r.dsn.as_str().as_bytes());
        f.put(r.text.as_bytes());
    }
    f.0
}

/// Decode the answers to a mailbox or Maildir request of `expected` records; any other count is an
/// error.
pub fn decode_replies(data: &[u8], expected: usize) -> Result<Vec<Reply>, ProtoError> {
    let mut c = Cursor { data, pos: 0 };
    if c.num()? != expected as u64 {
        return Err(ProtoError("wrong number of answers".into()));
    }
    let mut out = Vec::new();
    for _ in 0..expected {
        out.push(c.reply()?);
    }
    c.end()?;
    Ok(out)
}

/// Write one frame.
pub fn write_frame(w: &mut dyn Write, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame too large",
        ));
    }
    w.write_all(&(payload.len() as u32).to_be_bytes())?;
    w.write_all(payload)?;
    w.flush()
}

/// Read one frame; `Ok(None)` at a clean end of input.
pub fn read_frame(r: &mut dyn Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..])?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        got += n;
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    // Read what actually arrives rather than allocating the announced length up front.
    let mut buf = Vec::new();
    r.take(n as u64).read_to_end(&mut buf)?;
    if buf.len() != n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(buf))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
