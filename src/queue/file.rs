//! The queue file format: length-prefixed records, one per line, described in
//! spool-layout.md. A recipient record's type byte is rewritten in place from `R` to `D`
//! when the recipient is finished, so a crash repeats at most the delivery in progress.
//!
//! Security role: queue files are written only by Postern (mail_owner, mode 0700 when
//! complete); the reader still treats them as untrusted bytes and reports a malformed file
//! as corrupt instead of panicking.

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

fn put(buf: &mut Vec<u8>, kind: u8, payload: &[u8]) -> u64 {
    let offset = buf.len() as u64;
    buf.push(kind);
    buf.extend_from_slice(payload.len().to_string().as_bytes());
    buf.push(b':');
    buf.extend_from_slice(payload);
    buf.push(b'\n');
    offset
}

/// Serialise an envelope and content into one buffer; recipient offsets are filled in.
pub fn encode(env: &mut Envelope, content: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(content.len() + 256 + env.recipients.len() * 64);
    put(&mut buf, rec::VERSION, FORMAT_VERSION.as_bytes());
    let t = env
        .arrival
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    put(
        &mut buf,
        rec::ARRIVAL,
        format!("{}.{:06}", t.as_secs(), t.subsec_micros()).as_bytes(),
    );
    put(&mut buf, rec::SENDER, env.sender.as_bytes());
    env.warn_offset = put(
        &mut buf,
        rec::WARN,
        if env.delay_warned { b"1" } else { b"0" },
    );
    for (n, v) in &env.attrs {
        put(&mut buf, rec::ATTR, format!("{}={}", n, v).as_bytes());
    }
    for r in env.recipients.iter_mut() {
        if let Some(o) = &r.orig {
            put(&mut buf, rec::ORIG_RCPT, o.as_bytes());
        }
        if let Some(n) = &r.notify {
            put(&mut buf, rec::NOTIFY, n.as_bytes());
        }
        if let Some(q) = &r.orcpt {
            put(&mut buf, rec::ORCPT, q.as_bytes());
        }
        r.offset = put(
            &mut buf,
            if r.done { rec::DONE } else { rec::RCPT },
            r.address.as_bytes(),
        );
    }
    put(&mut buf, rec::CONTENT, content);
    put(&mut buf, rec::END, b"");
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
        let (envelope, content_offset, content_len) = decode(&data)?;
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
    let corrupt = |why: &str| QueueFileError::Corrupt(why.to_string());
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
    Ok((env, off, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_file_is_reopened_for_marks_and_content() {
        let path = std::env::temp_dir().join(format!("postern-qf-close-{}", std::process::id()));
        let mut env = Envelope::new("s@x");
        env.recipients.push(Recipient::new("a@y"));
        env.recipients.push(Recipient::new("b@y"));
        std::fs::write(&path, encode(&mut env, b"body\n")).unwrap();
        let mut qf = QueueFile::open(&path).unwrap();
        qf.close();
        assert_eq!(qf.content().unwrap(), b"body\n");
        qf.close();
        qf.mark_done(0).unwrap();
        qf.close();
        qf.sync().unwrap();
        let again = QueueFile::open_read_only(&path).unwrap();
        assert_eq!(again.pending().count(), 1);
        let mut ro = QueueFile::open_read_only(&path).unwrap();
        ro.close();
        assert!(ro.mark_done(1).is_err(), "read-only stays read-only");
        std::fs::remove_file(&path).unwrap();
    }

    /// Found by the fuzz target fuzz/fuzz_targets/queue_file.rs: an arrival time beyond
    /// SystemTime's range panicked ("overflow when adding duration to `SystemTime`").
    #[test]
    fn arrival_time_out_of_range_is_corrupt() {
        for t in ["9999999999999999999", "9223372036854775807.999999999999"] {
            let file = format!("V1:1\nT{}:{}\nF0:\nR3:a@b\nM0:\nE0:\n", t.len(), t);
            match decode(file.as_bytes()) {
                Err(QueueFileError::Corrupt(why)) => assert_eq!(why, "bad arrival time"),
                other => panic!("{:?}: {:?}", t, other.map(|(e, _, _)| e)),
            }
        }
        let file = "V1:1\nT17:1796242598.746641\nF0:\nR3:a@b\nM0:\nE0:\n";
        assert!(decode(file.as_bytes()).is_ok());
    }

    fn sample() -> Envelope {
        let mut e = Envelope::new("a@b.test");
        e.set_attr("client_address", "127.0.0.1");
        let mut r = Recipient::new("u@here");
        r.orig = Some("u".into());
        r.notify = Some("FAILURE".into());
        e.recipients.push(r);
        e.recipients.push(Recipient::new("v@here"));
        e
    }

    #[test]
    fn round_trip_and_done_marks() {
        let dir = std::env::temp_dir().join(format!("postern-qf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("F00");
        let mut env = sample();
        let content = b"Subject: x\n\nbody with : colons\nand\nnewlines\n";
        let buf = encode(&mut env, content);
        std::fs::write(&path, &buf).unwrap();
        let mut qf = QueueFile::open(&path).unwrap();
        assert_eq!(qf.envelope.sender, "a@b.test");
        assert_eq!(qf.envelope.attr("client_address"), Some("127.0.0.1"));
        assert_eq!(qf.envelope.recipients[0].orig.as_deref(), Some("u"));
        assert_eq!(qf.envelope.recipients[1].orig, None);
        assert_eq!(qf.content().unwrap(), content);
        qf.mark_done(0).unwrap();
        assert!(!qf.envelope.delay_warned);
        qf.mark_delay_warned().unwrap();
        qf.sync().unwrap();
        let qf = QueueFile::open(&path).unwrap();
        assert!(qf.envelope.recipients[0].done);
        assert!(qf.envelope.delay_warned);
        assert_eq!(qf.pending().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncated_file_is_corrupt() {
        let mut env = sample();
        let buf = encode(&mut env, b"hello\n");
        for cut in [0, 5, buf.len() / 2, buf.len() - 1] {
            assert!(
                matches!(decode(&buf[..cut]), Err(QueueFileError::Corrupt(_))),
                "cut {}",
                cut
            );
        }
        assert!(decode(&buf).is_ok());
        let mut bad = buf.clone();
        bad[0] = b'Z';
        assert!(decode(&bad).is_err());
        // A length that would overflow is corrupt, not a panic.
        let huge = format!("V1:1\nF{}:x\n", usize::MAX);
        assert!(matches!(
            decode(huge.as_bytes()),
            Err(QueueFileError::Corrupt(_))
        ));
    }
}
