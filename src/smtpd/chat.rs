//! The SMTP conversation's I/O: buffered command-line reading with a length limit, reply
//! queueing with Postfix's pipelining rule (replies are flushed only when no more client
//! input is buffered, so a pipelined MAIL/RCPT/DATA group costs one write), and the DATA
//! phase reader (RFC 5321 section 4.5.2 dot-unstuffing), and the reader of BDAT chunks
//! (RFC 3030: exactly the announced byte count, uninterpreted).
//!
//! Security role: every byte from the client passes through here. Command lines are bounded
//! by $line_length_limit; the message is bounded by $message_size_limit (excess is read and
//! discarded). Only CR LF . CR LF ends DATA, so `<LF>.<LF>` cannot smuggle a second message
//! (smtpd_forbid_bare_newline = normalize); bare LF line ends are accepted and stored as LF,
//! and noticed (`last_line_bare_lf`, `Data::bare_lf`) for smtpd_forbid_bare_newline = reject.
//! `pending_input` tells, without blocking, what the client sent ahead (pipelining checks).
//! Nothing is logged here; the session logs.

use std::io::{self, Read, Write};

pub use super::conn::{Conn, Peek};

/// Why the conversation cannot go on.
#[derive(Debug)]
pub enum ChatError {
    /// No input within $smtpd_timeout.
    Timeout,
    /// The client closed the connection or an I/O error occurred.
    Lost,
}

fn map_io(e: io::Error) -> ChatError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ChatError::Timeout,
        _ => ChatError::Lost,
    }
}

/// One command line as read.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// The line without its CR LF / LF.
    Text(Vec<u8>),
    /// Longer than the limit; the rest was read and discarded.
    TooLong,
}

/// Result of reading the DATA phase.
#[derive(Debug, Default)]
pub struct Data {
    /// Content with LF line ends, dot-unstuffed (empty when `too_big`).
    pub content: Vec<u8>,
    /// Bytes received (after unstuffing), counted even when discarded.
    pub size: u64,
    pub too_big: bool,
    /// Some line ended in a bare LF (smtpd_forbid_bare_newline = reject refuses it).
    pub bare_lf: bool,
}

const READ_CHUNK: usize = 16 * 1024;
/// The first reads of a session: commands are short, and an idle client (thousands of them
/// at once) should cost one small buffer, not 16 KiB of touched memory. A read that fills
/// the small chunk (DATA, a long pipelined group) switches to `READ_CHUNK`.
const FIRST_CHUNK: usize = 512;
/// Partial DATA lines longer than this are stored in pieces instead of buffered whole.
const MAX_PARTIAL: usize = 64 * 1024;

/// Buffered conversation state over a connection.
pub struct Chat<S: Read + Write> {
    conn: Option<Conn<S>>,
    inbuf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    /// The last command line ended in a bare LF.
    bare_lf: bool,
    /// How much the next read asks for: `FIRST_CHUNK`, then `READ_CHUNK`.
    chunk: usize,
}

impl<S: Read + Write> Chat<S> {
    pub fn new(stream: S) -> Chat<S> {
        Chat {
            conn: Some(Conn::Plain(stream)),
            inbuf: Vec::new(),
            pos: 0,
            out: Vec::new(),
            bare_lf: false,
            chunk: FIRST_CHUNK,
        }
    }

    /// Take the connection out (for a STARTTLS handshake).
    pub fn take_conn(&mut self) -> Option<Conn<S>> {
        self.conn.take()
    }

    /// Put a (possibly upgraded) connection back.
    pub fn set_conn(&mut self, conn: Conn<S>) {
        self.conn = Some(conn);
    }

    /// Forget any buffered input (after STARTTLS: CVE-2011-0411).
    pub fn discard_input(&mut self) {
        self.inbuf.clear();
        self.pos = 0;
    }

    /// Queue one reply line (CR LF is added).
    pub fn reply(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Whether the last command line read ended in a bare LF instead of CR LF.
    pub fn last_line_bare_lf(&self) -> bool {
        self.bare_lf
    }

    /// Whether client input is waiting in the buffer.
    pub fn has_buffered_input(&self) -> bool {
        self.pos < self.inbuf.len()
    }

    /// What the client sent ahead of the server: the buffered input, after reading what
    /// is already waiting on the connection (never blocks). Empty when there is none or
    /// the client closed the connection (the next read reports that).
    pub fn pending_input(&mut self) -> &[u8]
    where
        S: Peek,
    {
        if !self.has_buffered_input()
            && self.conn.as_ref().is_some_and(|c| c.input_waiting())
            && self.fill().is_err()
        {
            return &[];
        }
        &self.inbuf[self.pos..]
    }

    /// Send queued replies now.
    pub fn flush(&mut self) -> Result<(), ChatError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let conn = self.conn.as_mut().ok_or(ChatError::Lost)?;
        let r = conn.write_all(&self.out).and_then(|_| conn.flush());
        self.out.clear();
        r.map_err(map_io)
    }

    /// Read more input (flushing replies first: the client may be waiting for them).
    fn fill(&mut self) -> Result<(), ChatError> {
        self.flush()?;
        if self.pos > 0 {
            self.inbuf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.inbuf.len();
        self.inbuf.resize(old + self.chunk, 0);
        let conn = self.conn.as_mut().ok_or(ChatError::Lost)?;
        let r = loop {
            match conn.read(&mut self.inbuf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match r {
            Ok(0) => {
                self.inbuf.truncate(old);
                Err(ChatError::Lost)
            }
            Ok(n) => {
                if n == self.chunk {
                    self.chunk = READ_CHUNK;
                }
                self.inbuf.truncate(old + n);
                Ok(())
            }
            Err(e) => {
                self.inbuf.truncate(old);
                Err(map_io(e))
            }
        }
    }

    fn find_lf(&self, from: usize) -> Option<usize> {
        self.inbuf[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| from + i)
    }

    /// Read one command line of at most `limit` bytes (without the line end).
    pub fn read_line(&mut self, limit: usize) -> Result<Line, ChatError> {
        let mut scanned = self.pos;
        loop {
            if let Some(lf) = self.find_lf(scanned) {
                let mut end = lf;
                self.bare_lf = true;
                if end > self.pos && self.inbuf[end - 1] == b'\r' {
                    end -= 1;
                    self.bare_lf = false;
                }
                let line = self.inbuf[self.pos..end].to_vec();
                self.pos = lf + 1;
                if line.len() > limit {
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Text(line));
            }
            if self.inbuf.len() - self.pos > limit + 1 {
                // Too long: skip to the end of the line, keeping the session usable.
                self.pos = self.inbuf.len();
                loop {
                    self.fill()?;
                    if let Some(lf) = self.find_lf(self.pos) {
                        self.pos = lf + 1;
                        return Ok(Line::TooLong);
                    }
                    self.pos = self.inbuf.len();
                }
            }
            scanned = self.inbuf.len();
            let rel = scanned - self.pos;
            self.fill()?;
            scanned = self.pos + rel;
        }
    }

    /// Read message content up to CR LF . CR LF into `data`. `limit` 0 means unlimited. On
    /// error `data.size` tells how much arrived; the caller drops the partial content.
    pub fn read_data(&mut self, limit: u64, data: &mut Data) -> Result<(), ChatError> {
        data.content.reserve(8192);
        // The DATA command line itself counts as ending with CR LF.
        let mut prev_crlf = true;
        let mut at_line_start = true;
        loop {
            let Some(lf) = self.find_lf(self.pos) else {
                let avail = self.inbuf.len() - self.pos;
                if avail >= MAX_PARTIAL {
                    // A very long line: store what we have, continue the line later.
                    let mut start = self.pos;
                    if at_line_start && self.inbuf[start] == b'.' {
                        start += 1;
                    }
                    // Keep a trailing CR back in case its LF follows.
                    let end = if self.inbuf[self.inbuf.len() - 1] == b'\r' {
                        self.inbuf.len() - 1
                    } else {
                        self.inbuf.len()
                    };
                    store(data, &self.inbuf[start..end], limit);
                    self.pos = end;
                    at_line_start = false;
                }
                if let Err(e) = self.fill() {
                    // Count the unfinished line too ("lost connection after DATA (N bytes)").
                    data.size += (self.inbuf.len() - self.pos) as u64;
                    return Err(e);
                }
                continue;
            };
            let mut end = lf;
            let crlf = end > self.pos && self.inbuf[end - 1] == b'\r';
            if crlf {
                end -= 1;
            }
            let mut start = self.pos;
            self.pos = lf + 1;
            data.bare_lf |= !crlf;
            if at_line_start && self.inbuf[start] == b'.' {
                if end == start + 1 && crlf && prev_crlf {
                    return Ok(());
                }
                start += 1;
            }
            // Store the line with a bare LF end.
            store(data, &self.inbuf[start..end], limit);
            store(data, b"\n", limit);
            prev_crlf = crlf;
            at_line_start = true;
        }
    }

    /// Read exactly `size` bytes of raw input (a BDAT chunk, RFC 3030), handing them to
    /// `sink` piece by piece as they arrive; nothing is interpreted. On error the pieces
    /// already handed over tell how much arrived.
    pub fn read_chunk(&mut self, size: u64, sink: &mut dyn FnMut(&[u8])) -> Result<(), ChatError> {
        let mut left = size;
        while left > 0 {
            if !self.has_buffered_input() {
                self.fill()?;
            }
            let avail = (self.inbuf.len() - self.pos) as u64;
            let take = avail.min(left) as usize;
            sink(&self.inbuf[self.pos..self.pos + take]);
            self.pos += take;
            left -= take as u64;
        }
        Ok(())
    }
}

fn store(data: &mut Data, bytes: &[u8], limit: u64) {
    data.size += bytes.len() as u64;
    if data.too_big {
        return;
    }
    if limit > 0 && data.size > limit {
        data.too_big = true;
        data.content = Vec::new();
        return;
    }
    data.content.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// An in-memory stream: reads from `input`, collects writes.
    struct Mem {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
        writes: usize,
    }

    impl Read for Mem {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }
    impl Peek for Mem {
        fn input_waiting(&self) -> bool {
            (self.input.position() as usize) < self.input.get_ref().len()
        }
    }

    impl Write for Mem {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn chat(input: &[u8]) -> Chat<Mem> {
        Chat::new(Mem {
            input: Cursor::new(input.to_vec()),
            output: Vec::new(),
            writes: 0,
        })
    }

    fn read(c: &mut Chat<Mem>, limit: u64) -> Result<Data, ChatError> {
        let mut d = Data::default();
        c.read_data(limit, &mut d).map(|_| d)
    }

    fn text(l: Line) -> Vec<u8> {
        match l {
            Line::Text(t) => t,
            Line::TooLong => panic!("too long"),
        }
    }

    #[test]
    fn lines_with_crlf_and_bare_lf() {
        let mut c = chat(b"HELO a\r\nNOOP\nQUIT\r\n");
        assert_eq!(text(c.read_line(100).unwrap()), b"HELO a");
        assert_eq!(text(c.read_line(100).unwrap()), b"NOOP");
        assert_eq!(text(c.read_line(100).unwrap()), b"QUIT");
        assert!(matches!(c.read_line(100), Err(ChatError::Lost)));
    }

    #[test]
    fn long_line_is_skipped_and_next_line_works() {
        let mut input = vec![b'x'; 50_000];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        let mut c = chat(&input);
        assert_eq!(c.read_line(2048).unwrap(), Line::TooLong);
        assert_eq!(text(c.read_line(2048).unwrap()), b"NOOP");
        let mut c = chat(b"abcdef\r\nok\r\n");
        assert_eq!(c.read_line(3).unwrap(), Line::TooLong);
        assert_eq!(text(c.read_line(3).unwrap()), b"ok");
    }

    #[test]
    fn replies_are_held_while_input_is_buffered() {
        let mut c = chat(b"A\r\nB\r\nC\r\n");
        let _ = c.read_line(100).unwrap();
        c.reply("250 one");
        let _ = c.read_line(100).unwrap();
        c.reply("250 two");
        let _ = c.read_line(100).unwrap();
        c.reply("250 three");
        assert_eq!(
            c.conn_writes(),
            0,
            "nothing written while input is buffered"
        );
        c.flush().unwrap();
        assert_eq!(c.conn_writes(), 1);
    }

    impl Chat<Mem> {
        fn conn_writes(&self) -> usize {
            match self.conn.as_ref().unwrap() {
                Conn::Plain(m) => m.writes,
                Conn::Tls(_) => 0,
            }
        }
    }

    #[test]
    fn data_unstuffs_and_ends_only_at_crlf_dot_crlf() {
        let mut c = chat(b"a\r\n..b\r\nc\n.\nd\r\n.\r\nNOOP\r\n");
        let d = read(&mut c, 0).unwrap();
        // ".\n" after a bare-LF line is an ordinary (unstuffed, so empty) line.
        assert_eq!(d.content, b"a\n.b\nc\n\nd\n");
        assert_eq!(text(c.read_line(100).unwrap()), b"NOOP");
    }

    #[test]
    fn lf_dot_crlf_after_bare_lf_does_not_end() {
        let mut c = chat(b"x\n.\r\ny\r\n.\r\n");
        let d = read(&mut c, 0).unwrap();
        assert_eq!(d.content, b"x\n\ny\n");
        assert!(d.bare_lf);
        let mut c = chat(b"x\r\n.\r\n");
        assert!(!read(&mut c, 0).unwrap().bare_lf);
    }

    #[test]
    fn bare_lf_command_lines_are_noticed() {
        let mut c = chat(b"HELO a\r\nNOOP\nQUIT\r\n");
        let _ = c.read_line(100).unwrap();
        assert!(!c.last_line_bare_lf());
        let _ = c.read_line(100).unwrap();
        assert!(c.last_line_bare_lf());
        let _ = c.read_line(100).unwrap();
        assert!(!c.last_line_bare_lf());
    }

    #[test]
    fn oversized_data_is_counted_and_dropped() {
        let mut c = chat(b"0123456789\r\nabc\r\n.\r\n");
        let d = read(&mut c, 5).unwrap();
        assert!(d.too_big);
        assert!(d.content.is_empty());
        assert_eq!(d.size, 15);
    }

    #[test]
    fn data_eof_is_lost() {
        let mut c = chat(b"partial message\r\n");
        assert!(matches!(read(&mut c, 0), Err(ChatError::Lost)));
    }

    #[test]
    fn very_long_data_line_and_nul_bytes_are_kept() {
        let mut input = vec![b'y'; 200_000];
        input.extend_from_slice(b"\0z\r\n.\r\n");
        let mut c = chat(&input);
        let d = read(&mut c, 0).unwrap();
        assert_eq!(d.content.len(), 200_003);
        assert!(d.content.ends_with(b"y\0z\n"));
    }

    #[test]
    fn pending_input_reads_what_waits_and_keeps_it() {
        let mut c = chat(b"EHLO x\r\nMAIL FROM:<a@b>\r\n");
        assert_eq!(c.pending_input(), b"EHLO x\r\nMAIL FROM:<a@b>\r\n");
        assert_eq!(text(c.read_line(100).unwrap()), b"EHLO x");
        assert_eq!(c.pending_input(), b"MAIL FROM:<a@b>\r\n");
        assert_eq!(text(c.read_line(100).unwrap()), b"MAIL FROM:<a@b>");
        assert_eq!(c.pending_input(), b"");
        assert!(chat(b"").pending_input().is_empty());
    }
}
