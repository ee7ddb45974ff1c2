//! The queue file format: length-prefixed records, one per line, described in
//! spool-layout.md. A recipient record's type byte is rewritten in place from `R` to `D`
//! when the recipient is finished, so a crash repeats at most the delivery in progress.
//!
//! The end record carries a checksum of the records before it and the queue ID the file
//! was written under (`E` payload `SUM ID`): a new message is written into a file that
//! already has its queue ID name (and may hold a delivered message's bytes, a spare), and
//! on a file system without a journal a crash during its fsync may leave the "complete"
//! mode on disk without all of the new data. Such a file is never acknowledged, and the
//! checksum (or the ID) makes the reader report it as corrupt instead of delivering a mix
//! of two messages. The bytes rewritten in place (`R`/`D`, the `W` payload) are left out
//! of the sum. Files of older versions end with an empty `E` and are read as before.
//!
//! Security role: queue files are written only by Postern (mail_owner, mode 0700 when
//! complete); the reader still treats them as untrusted bytes and reports a malformed file
//! as corrupt instead of panicking. The checksum guards against torn writes, not forgery.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Record types.
pub mod rec {
    pub const VERSION: u8 = b'V';
    pub const ARRIVAL: u8 = b'T';
    pub const SENDER: u8 = b'F';
    pub const ATTR: u8 = b'A';
    pub const ORIG_RCPT: u8 = b'O';
    pub const NOTIFY: u8 = b'N';
    pub const ORCPT: u8 = b'Q';
    pub const RCPT: u8 = b'R';
    pub const DONE: u8 = b'D';
    pub const CONTENT: u8 = b'M';
    pub const END: u8 = b'E';
    /// Delay warning state: `0` not sent, `1` sent (rewritten in place).
    pub const WARN: u8 = b'W';
}

pub const FORMAT_VERSION: &str = "1";

/// One envelope recipient.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recipient {
    /// The address to deliver to.
    pub address: String,
    /// The address as the client gave it (`orig_to=`), when different.
    pub orig: Option<String>,
    /// DSN NOTIFY= value (`NEVER` or a comma list of SUCCESS, FAILURE, DELAY).
    pub notify: Option<String>,
    /// DSN ORCPT= value.
    pub orcpt: Option<String>,
    /// Finished (delivered, bounced, or expanded); never attempted again.
    pub done: bool,
    /// Byte offset of this recipient's type byte in the file (0 before it is written).
    pub offset: u64,
}

impl Recipient {
    pub fn new(address: &str) -> Recipient {
        Recipient {
            address: address.to_string(),
            ..Default::default()
        }
    }
}

/// The attribute naming the message's after-queue content filter, `transport:nexthop`
/// (Postfix's REC_TYPE_FILT record): set by the receiving service from $content_filter
/// or by a FILTER action, read by qmgr, which then sends every recipient there.
pub const FILTER_ATTR: &str = "content_filter";

/// Everything in a queue file but the message content.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub arrival: SystemTime,
    pub sender: String,
    /// Named attributes: client_name, client_address, helo_name, protocol_name, envid, ret,
    /// rewrite_context, uid, bounce_kind, ...
    pub attrs: Vec<(String, String)>,
    pub recipients: Vec<Recipient>,
    /// A delay warning (delay_warning_time) was sent for this message.
    pub delay_warned: bool,
    /// Byte offset of the `W` record in the file (0 before it is written).
    pub warn_offset: u64,
}

impl Envelope {
    pub fn new(sender: &str) -> Envelope {
        Envelope {
            arrival: SystemTime::now(),
            sender: sender.to_string(),
            attrs: Vec::new(),
            recipients: Vec::new(),
            delay_warned: false,
            warn_offset: 0,
        }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn set_attr(&mut self, name: &str, value: &str) {
        self.attrs.retain(|(n, _)| n != name);
        self.attrs.push((name.to_string(), value.to_string()));
    }
}

/// Why a queue file cannot be read.
#[derive(Debug)]
pub enum QueueFileError {
    Io(io::Error),
    /// The file is not a complete, well-formed queue file.
    Corrupt(String),
}

impl fmt::Display for QueueFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueFileError::Io(e) => write!(f, "{}", e),
            QueueFileError::Corrupt(why) => write!(f, "corrupt queue file: {}", why),
        }
    }
}

impl std::error::Error for QueueFileError {}

impl From<io::Error> for QueueFileError {
    fn from(e: io::Error) -> Self {
        QueueFileError::Io(e)
    }
}

/// The running checksum of a queue file's records (a 64-bit multiply-rotate mix, eight
/// bytes a step; not cryptographic). A recipient's `D` counts as `R` and the `W` payload
/// not at all, since both are rewritten in place after the file is complete.
#[derive(Clone, Copy)]
struct Sum(u64);

impl Sum {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    fn new() -> Sum {
        Sum(0x243F_6A88_85A3_08D3)
    }

    fn mix(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(Self::K).rotate_left(31);
    }

    fn record(&mut self, kind: u8, payload: &[u8]) {
        let kind = if kind == rec::DONE { rec::RCPT } else { kind };
        self.mix(u64::from(kind));
        if kind == rec::WARN {
            return;
        }
        self.mix(payload.len() as u64);
        let mut words = payload.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.mix(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(b));
        }
    }

    /// The final value (MurmurHash3's 64-bit finaliser over the state).
    fn value(self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^ (h >> 33)
    }
}

fn put(buf: &mut Vec<u8>, sum: &mut Sum, kind: u8, payload: &[u8]) -> u64 {
    sum.record(kind, payload);
    let offset = buf.len() as u64;
    buf.push(kind);
    buf.extend_from_slice(payload.len().to_string().as_bytes());
    buf.push(b':');
    buf.extend_from_slice(payload);
    buf.push(b'\n');
    offset
}

/// Serialise an envelope and content into one buffer; recipient offsets are filled in. The
/// end record holds the checksum and `id`, the queue ID the file is written under (empty
/// for a file whose name is not known here, such as postdrop's input).
pub fn encode(env: &mut Envelope, content: &[u8], id: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(content.len() + 256 + env.recipients.len() * 64);
    let mut sum = Sum::new();
    let sum = &mut sum;
    put(&mut buf, sum, rec::VERSION, FORMAT_VERSION.as_bytes());
    let t = env
        .arrival
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    put(
        &mut buf,
        sum,
        rec::ARRIVAL,
        format!("{}.{:06}", t.as_secs(), t.subsec_micros()).as_bytes(),
    );
    put(&mut buf, sum, rec::SENDER, env.sender.as_bytes());
    env.warn_offset = put(
        &mut buf,
        sum,
        rec::WARN,
        if env.delay_warned { b"1" } else { b"0" },
    );
    for (n, v) in &env.attrs {
        put(&mut buf, sum, rec::ATTR, format!("{}={}", n, v).as_bytes());
    }
    for r in env.recipients.iter_mut() {
        if let Some(o) = &r.orig {
            put(&mut buf, sum, rec::ORIG_RCPT, o.as_bytes());
        }
        if let Some(n) = &r.notify {
            put(&mut buf, sum, rec::NOTIFY, n.as_bytes());
        }
        if let Some(q) = &r.orcpt {
            put(&mut buf, sum, rec::ORCPT, q.as_bytes());
        }
        r.offset = put(
            &mut buf,
            sum,
            if r.done { rec::DONE } else { rec::RCPT },
            r.address.as_bytes(),
        );
    }
    put(&mut buf, sum, rec::CONTENT, content);
    let end = if id.is_empty() {
        format!("{:016x}", sum.value())
    } else {
        format!("{:016x} {}", sum.value(), id)
    };
    buf.push(rec::END);
    buf.extend_from_slice(end.len().to_string().as_bytes());
    buf.push(b':');
    buf.extend_from_slice(end.as_bytes());
    buf.push(b'\n');
    buf
}

/// An open queue file: its envelope parsed, its content left on disk until asked for.
/// `close` gives the descriptor back (the scheduler holds thousands of these); a later
/// write reopens the file by its path.
pub struct QueueFile {
    file: Option<File>,
    path: PathBuf,
    writable: bool,
    pub envelope: Envelope,
    content_offset: u64,
    content_len: u64,
}

impl QueueFile {
    /// Open and parse; read-write so recipients can be marked done.
    pub fn open(path: &Path) -> Result<QueueFile, QueueFileError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        Self::from_file(file, path, true)
    }

    /// Open read-only (postcat, mailq).
    pub fn open_read_only(path: &Path) -> Result<QueueFile, QueueFileError> {
        Self::from_file(File::open(path)?, path, false)
    }

    fn from_file(mut file: File, path: &Path, writable: bool) -> Result<QueueFile, QueueFileError> {
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let (envelope, content_offset, content_len, end_id) = decode_with_id(&data)?;
        // A file named by a queue ID must hold the message written under that ID: a spare
        // that still holds its old message (a crash before the new one was on disk) does not.
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(id) = end_id
            && super::is_queue_id(name)
            && id != name
        {
            return Err(QueueFileError::Corrupt(format!(
                "written as {} (an interrupted write)",
                id
            )));
        }
        Ok(QueueFile {
            file: Some(file),
            path: path.to_path_buf(),
            writable,
            envelope,
            content_offset,
            content_len,
        })
    }

    /// Close the descriptor; reads and writes after this reopen the file by its path.
    pub fn close(&mut self) {
        self.file = None;
    }

    /// The open descriptor, reopened (read-write when opened so) after `close`.
    fn handle(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(self.writable)
                .open(&self.path)?;
            self.file = Some(f);
        }
        Ok(self.file.as_mut().expect("just opened"))
    }

    /// The file's metadata (owner, times).
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        match &self.file {
            Some(f) => f.metadata(),
            None => std::fs::metadata(&self.path),
        }
    }

    /// The message content size in bytes (`size=` in the qmgr log line).
    pub fn content_len(&self) -> u64 {
        self.content_len
    }

    /// Where the message content starts in the file (postcat's data offset).
    pub fn content_offset(&self) -> u64 {
        self.content_offset
    }

    /// Read the message content (headers and body, LF line ends).
    pub fn content(&mut self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.content_len as usize];
        let offset = self.content_offset;
        let f = self.handle()?;
        f.seek(SeekFrom::Start(offset))?;
        f.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Mark recipient `idx` finished: rewrite its type byte in place. The caller syncs.
    pub fn mark_done(&mut self, idx: usize) -> io::Result<()> {
        let r = &self.envelope.recipients[idx];
        if r.done {
            return Ok(());
        }
        let offset = r.offset;
        self.handle()?.write_at(&[rec::DONE], offset)?;
        self.envelope.recipients[idx].done = true;
        Ok(())
    }

    /// Record that the delay warning was sent (rewrites the `W` record in place; the
    /// caller syncs). Files without a `W` record are left as they are.
    pub fn mark_delay_warned(&mut self) -> io::Result<()> {
        if self.envelope.warn_offset > 0 && !self.envelope.delay_warned {
            // "W1:" precedes the one-byte payload.
            let offset = self.envelope.warn_offset + 3;
            self.handle()?.write_at(b"1", offset)?;
            self.envelope.delay_warned = true;
        }
        Ok(())
    }

    /// Make the done marks durable.
    pub fn sync(&self) -> io::Result<()> {
        match &self.file {
            Some(f) => f.sync_data(),
            // fsync(2) flushes the file, whichever descriptor wrote it.
            None => File::open(&self.path)?.sync_data(),
        }
    }

    /// Recipients not yet finished, with their indices.
    pub fn pending(&self) -> impl Iterator<Item = (usize, &Recipient)> {
        self.envelope
            .recipients
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.done)
    }
}

/// Parse a whole queue file held in memory.
pub fn decode(data: &[u8]) -> Result<(Envelope, u64, u64), QueueFileError> {
    decode_with_id(data).map(|(env, off, len, _)| (env, off, len))
}

/// Parse a whole queue file held in memory; also returns the queue ID its end record names
/// (None for an older file or one written without a name). A checksum that does not match
/// is corrupt.
pub fn decode_with_id(data: &[u8]) -> Result<(Envelope, u64, u64, Option<String>), QueueFileError> {
    let corrupt = |why: &str| QueueFileError::Corrupt(why.to_string());
    let mut sum = Sum::new();
    let mut end_id = None;
    let mut env = Envelope::new("");
    let mut pos = 0usize;
    let mut pending = Recipient::default();
    let mut content: Option<(u64, u64)> = None;
    let mut seen_version = false;
    let mut seen_end = false;
    while pos < data.len() {
        let start = pos;
        let kind = data[pos];
        pos += 1;
        let colon = data[pos..]
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| corrupt("record without length"))?;
        let len: usize = std::str::from_utf8(&data[pos..pos + colon])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| corrupt("bad record length"))?;
        pos += colon + 1;
        // `len` comes from the file (postdrop input is untrusted): no overflow.
        let end = pos.checked_add(len).filter(|&e| e < data.len());
        if end.is_none_or(|e| data[e] != b'\n') {
            return Err(corrupt("truncated record"));
        }
        let payload = &data[pos..pos + len];
        if kind != rec::END {
            sum.record(kind, payload);
        }
        let text = || String::from_utf8_lossy(payload).into_owned();
        match kind {
            rec::VERSION => {
                if payload != FORMAT_VERSION.as_bytes() {
                    return Err(corrupt("unknown format version"));
                }
                seen_version = true;
            }
            rec::WARN => {
                env.delay_warned = payload == b"1";
                env.warn_offset = start as u64;
            }
            rec::ARRIVAL => {
                let t = text();
                let (s, us) = t.split_once('.').unwrap_or((&t, "0"));
                let s: u64 = s.parse().map_err(|_| corrupt("bad arrival time"))?;
                let us: u64 = us.parse().unwrap_or(0);
                // Checked: a time past what SystemTime holds (a forged maildrop file) is
                // corrupt, not a panic.
                env.arrival = Duration::from_secs(s)
                    .checked_add(Duration::from_micros(us))
                    .and_then(|d| UNIX_EPOCH.checked_add(d))
                    .ok_or_else(|| corrupt("bad arrival time"))?;
            }
            rec::SENDER => env.sender = text(),
            rec::ATTR => {
                let t = text();
                let (n, v) = t.split_once('=').ok_or_else(|| corrupt("bad attribute"))?;
                env.attrs.push((n.to_string(), v.to_string()));
            }
            rec::ORIG_RCPT => pending.orig = Some(text()),
            rec::NOTIFY => pending.notify = Some(text()),
            rec::ORCPT => pending.orcpt = Some(text()),
            rec::RCPT | rec::DONE => {
                let mut r = std::mem::take(&mut pending);
                r.address = text();
                r.done = kind == rec::DONE;
                r.offset = start as u64;
                env.recipients.push(r);
            }
            rec::CONTENT => content = Some((pos as u64, len as u64)),
            rec::END => {
                if !payload.is_empty() {
                    end_id = check_end(payload, sum)?;
                }
                seen_end = true;
                pos += len + 1;
                break;
            }
            _ => return Err(corrupt("unknown record type")),
        }
        pos += len + 1;
    }
    if !seen_version {
        return Err(corrupt("no version record"));
    }
    if !seen_end || pos != data.len() {
        return Err(corrupt("no end record"));
    }
    let (off, len) = content.ok_or_else(|| corrupt("no content record"))?;
    Ok((env, off, len, end_id))
}

/// Check an end record's `SUM [ID]` against the records' checksum; returns the ID.
fn check_end(payload: &[u8], sum: Sum) -> Result<Option<String>, QueueFileError> {
    let corrupt = |why: &str| QueueFileError::Corrupt(why.to_string());
    let text = std::str::from_utf8(payload).map_err(|_| corrupt("bad end record"))?;
    let (hex, id) = match text.split_once(' ') {
        Some((h, i)) => (h, Some(i.to_string())),
        None => (text, None),
    };
    let want = u64::from_str_radix(hex, 16).map_err(|_| corrupt("bad end record"))?;
    if hex.len() != 16 || want != sum.value() {
        return Err(corrupt("checksum mismatch (an interrupted write)"));
    }
    Ok(id)
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
