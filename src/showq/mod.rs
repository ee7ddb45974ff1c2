//! showq: the mail queue listing (Postfix's showq(8) and postqueue(1)'s output formats).
//!
//! The queue directories are mail_owner 0700, so an ordinary user's `mailq` cannot read
//! them. The running master serves the listing on the Unix socket `public/showq` (in the
//! 0710 mail_owner:setgid_group directory: root, mail_owner and the set-gid postqueue reach
//! it). A client sends one line, `p` (mailq layout) or `j` (JSON lines), and reads the
//! listing until the server closes the connection. The listing is written as the spool is
//! read (`Listing`), never built whole in memory, here or in postqueue. Root and mail_owner
//! may also build the
//! listing directly from the spool when the system is down; queue files Postfix left
//! (not yet imported by the master's start) are listed after Postern's own.
//!
//! Formats (postqueue(1)): `-p` prints the header
//! `-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------`, one entry per
//! message (ID with `*` when active, `!` when on hold, the content size, the arrival time,
//! the sender; a `(reason)` line right-aligned to column 78 whenever the deferral reason
//! changes; recipients indented 41 columns), a blank line between entries, and the footer
//! `-- N Kbytes in M Requests.` (`Request.` for one; N is the total size / 1024, rounded
//! down) or `Mail queue is empty`. `-j` prints one JSON object per message (Postfix 3.1+):
//! queue_name, queue_id, arrival_time, message_size, sender, recipients (address and, when
//! known, delay_reason).
//!
//! Security role: the server runs as mail_owner, reads the spool read-only, takes no input
//! but the one-letter request, and applies read and write timeouts to each client.
//! Nothing is logged except failures to serve.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::log::{self, timefmt};
use crate::queue::{Queue, QueueName};

mod read;

#[cfg(test)]
use read::collect;
pub use read::{Entry, LIST_ORDER, each_entry};

/// The listing's heading line.
pub const HEADER: &str = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------";

const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long writing the listing may wait for the reader (Postfix's ipc_timeout default).
const LISTING_TIMEOUT: Duration = Duration::from_secs(3600);

/// Replace control characters so one address or reason cannot add lines to the listing.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The two layouts of the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `postqueue -p`, mailq.
    Compat,
    /// `postqueue -j`: one JSON object per line.
    Json,
}

/// A listing written entry by entry: the heading before the first, the footer (or `Mail
/// queue is empty`) at `finish`.
pub struct Listing<W: Write> {
    out: W,
    layout: Layout,
    count: usize,
    total: u64,
}

impl<W: Write> Listing<W> {
    pub fn new(out: W, layout: Layout) -> Listing<W> {
        Listing {
            out,
            layout,
            count: 0,
            total: 0,
        }
    }

    /// Write one message.
    pub fn entry(&mut self, e: &Entry) -> io::Result<()> {
        let text = match self.layout {
            Layout::Compat => compat_entry(e, self.count == 0),
            Layout::Json => json_entry(e),
        };
        self.count += 1;
        self.total += e.size;
        self.out.write_all(text.as_bytes())
    }

    /// Write the end of the listing; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.layout == Layout::Compat {
            let end = if self.count == 0 {
                "Mail queue is empty\n".to_string()
            } else {
                format!(
                    "\n-- {} Kbytes in {} Request{}.\n",
                    self.total / 1024,
                    self.count,
                    if self.count == 1 { "" } else { "s" }
                )
            };
            self.out.write_all(end.as_bytes())?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Write the whole listing of `queue` to `out` as it is read from the spool.
pub fn write_listing<W: Write>(queue: &Queue, layout: Layout, out: W) -> io::Result<W> {
    let mut listing = Listing::new(out, layout);
    each_entry(queue, &mut |e| listing.entry(&e))?;
    listing.finish()
}

#[cfg(test)]
fn render(entries: &[Entry], layout: Layout) -> String {
    let mut l = Listing::new(Vec::new(), layout);
    for e in entries {
        let _ = l.entry(e);
    }
    String::from_utf8_lossy(&l.finish().unwrap_or_default()).into_owned()
}

/// The mailq (`postqueue -p`) layout of `entries`.
#[cfg(test)]
pub fn render_compat(entries: &[Entry]) -> String {
    render(entries, Layout::Compat)
}

/// One message in the mailq layout (`first`: the heading goes before it, else a blank
/// line).
fn compat_entry(e: &Entry, first: bool) -> String {
    let mut out = String::new();
    if first {
        // Postfix's column widths: the ID column is 11 wide, the size 7 (the heading's
        // 8 characters overflow it by one).
        out.push_str(HEADER);
    }
    out.push('\n');
    let mark = match e.queue {
        QueueName::Active => "*",
        QueueName::Hold => "!",
        _ => "",
    };
    // asctime() cut to 20 characters: the date, the time and one space.
    let when: String = format!("{} ", timefmt::asctime(e.arrival))
        .chars()
        .take(20)
        .collect();
    let _ = writeln!(
        out,
        "{:<11} {:>7} {:>20} {}",
        format!("{}{}", e.id, mark),
        e.size,
        when,
        printable(&e.sender)
    );
    let mut last_reason = String::new();
    for (addr, reason) in &e.recipients {
        if *reason != last_reason {
            last_reason = reason.clone();
            let shown = if reason.is_empty() {
                "reason unavailable".to_string()
            } else {
                printable(reason)
            };
            let pad = 76usize.saturating_sub(shown.chars().count());
            let _ = writeln!(out, "{:pad$}({})", "", shown, pad = pad);
        }
        let _ = writeln!(out, "{:41}{}", "", printable(addr));
    }
    out
}

/// A JSON string literal: quotes, backslashes and control characters escaped.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `postqueue -j` layout of `entries`: one JSON object per line.
#[cfg(test)]
pub fn render_json(entries: &[Entry]) -> String {
    render(entries, Layout::Json)
}

fn json_entry(e: &Entry) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\"queue_name\": {}, \"queue_id\": {}, \"arrival_time\": {}, \"message_size\": {}, \"sender\": {}, \"recipients\": [",
        json_string(e.queue.dir_name()),
        json_string(&e.id),
        e.arrival,
        e.size,
        json_string(&e.sender)
    );
    for (i, (addr, reason)) in e.recipients.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{{\"address\": {}", json_string(addr));
        if !reason.is_empty() {
            let _ = write!(out, ", \"delay_reason\": {}", json_string(reason));
        }
        out.push('}');
    }
    out.push_str("]}\n");
    out
}

/// The showq socket.
pub fn socket_path(queue: &Queue) -> PathBuf {
    queue.root().join("public").join("showq")
}

/// Start serving the listing on `public/showq` (the master does this as mail_owner).
pub fn serve(queue: Queue) -> io::Result<JoinHandle<()>> {
    let path = socket_path(&queue);
    // A socket left by an earlier run (the pid-file lock says none runs now).
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    // Reachable only through the 0710 public/ directory, as Postfix's public sockets.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
    std::thread::Builder::new()
        .name("showq".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    // A thread per client: one that connects and says nothing must not
                    // hold up everybody else's mailq.
                    Ok(s) => {
                        let queue = queue.clone();
                        let spawned = std::thread::Builder::new()
                            .name("showq-client".into())
                            .spawn(move || {
                                if let Err(e) = answer(&queue, s) {
                                    log::warning("showq", format!("client: {}", e));
                                }
                            });
                        if let Err(e) = spawned {
                            log::warning("showq", format!("cannot serve a client: {}", e));
                        }
                    }
                    Err(e) => log::warning("showq", format!("accept: {}", e)),
                }
            }
        })
}

/// Stop taking clients (at `postfix stop`, before the pid-file lock is released): the
/// socket's name goes, so a `mailq` run after the stop returned cannot reach a master that
/// is still exiting and reads the queue directly instead.
pub fn withdraw(queue: &Queue) {
    let _ = std::fs::remove_file(socket_path(queue));
}

fn answer(queue: &Queue, stream: UnixStream) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new((&stream).take(64)).read_line(&mut line)?;
    let layout = match line.trim_end() {
        "p" => Layout::Compat,
        "j" => Layout::Json,
        other => {
            return Err(io::Error::other(format!(
                "bad request: {}",
                log::lines::printable(other)
            )));
        }
    };
    // The listing is written as it is read: a reader that pages it (`mailq | less`) may
    // take its time, as long as Postfix's ipc_timeout.
    stream.set_write_timeout(Some(LISTING_TIMEOUT))?;
    match write_listing(queue, layout, io::BufWriter::new(&stream)) {
        // The reader stopped reading (`mailq | head`): not the server's problem.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) =>
        {
            Ok(())
        }
        r => r.map(|_| ()),
    }
}

/// Whether a `postqueue -p` listing is complete: it ends with its footer or says the
/// queue is empty (else the server stopped in the middle).
pub fn is_complete(tail: &[u8]) -> bool {
    tail.ends_with(b" Requests.\n")
        || tail.ends_with(b" Request.\n")
        || tail.ends_with(b"Mail queue is empty\n")
}

/// Ask the running system for the listing: the connection to read it from until the
/// server closes it.
pub fn request(queue: &Queue, layout: Layout) -> io::Result<UnixStream> {
    let mut s = UnixStream::connect(socket_path(queue))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.write_all(match layout {
        Layout::Compat => b"p\n",
        Layout::Json => b"j\n",
    })?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(queue: QueueName, id: &str, size: u64, rcpts: &[(&str, &str)]) -> Entry {
        Entry {
            queue,
            id: id.into(),
            arrival: 0,
            size,
            sender: "a@b.test".into(),
            recipients: rcpts
                .iter()
                .map(|(a, r)| (a.to_string(), r.to_string()))
                .collect(),
        }
    }

    #[test]
    fn mailq_layout() {
        assert_eq!(render_compat(&[]), "Mail queue is empty\n");
        let when: String = format!("{} ", timefmt::asctime(0))
            .chars()
            .take(20)
            .collect();
        let list = vec![
            e(
                QueueName::Deferred,
                "35EC31BB8035",
                1500,
                &[("x@y", "deferred transport"), ("z@y", "deferred transport")],
            ),
            e(QueueName::Active, "ABCDEF12", 700, &[("q@y", "")]),
            e(QueueName::Hold, "ABCDEF13", 10, &[]),
        ];
        let text = render_compat(&list);
        let want = format!(
            "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n\
             35EC31BB8035    1500 {w} a@b.test\n\
             {p1}(deferred transport)\n\
             {i}x@y\n\
             {i}z@y\n\
             \n\
             ABCDEF12*       700 {w} a@b.test\n\
             {i}q@y\n\
             \n\
             ABCDEF13!        10 {w} a@b.test\n\
             \n\
             -- 2 Kbytes in 3 Requests.\n",
            w = when,
            p1 = " ".repeat(76 - 18),
            i = " ".repeat(41)
        );
        assert_eq!(text, want);
        assert!(render_compat(&list[1..2]).ends_with("\n-- 0 Kbytes in 1 Request.\n"));
    }

    #[test]
    fn reason_unavailable_after_a_reason() {
        let list = vec![e(
            QueueName::Deferred,
            "ABCDEF1",
            1,
            &[("a@x", "r1"), ("b@x", "")],
        )];
        let text = render_compat(&list);
        assert!(text.contains("(r1)\n"), "{}", text);
        assert!(text.contains("(reason unavailable)\n"), "{}", text);
    }

    #[test]
    fn json_lines_escape_strings() {
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
        let list = vec![e(
            QueueName::Deferred,
            "ABCDEF1",
            5,
            &[("x@y", "said \"no\""), ("z@y", "")],
        )];
        assert_eq!(
            render_json(&list),
            "{\"queue_name\": \"deferred\", \"queue_id\": \"ABCDEF1\", \"arrival_time\": 0, \"message_size\": 5, \"sender\": \"a@b.test\", \"recipients\": [{\"address\": \"x@y\", \"delay_reason\": \"said \\\"no\\\"\"}, {\"address\": \"z@y\"}]}\n"
        );
    }

    #[test]
    fn control_characters_cannot_add_lines() {
        let mut x = e(QueueName::Deferred, "ABCDEF1", 1, &[("a\n@x", "r\nx")]);
        x.sender = "s\r\nX".into();
        let text = render_compat(&[x]);
        assert_eq!(text.lines().count(), 6, "{}", text);
    }

    #[test]
    fn the_spool_is_listed_as_it_is_read_and_a_failing_reader_stops_it() {
        use crate::queue::{Envelope, Recipient};
        let dir = std::env::temp_dir().join(format!("postern-showq-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let q = Queue::new(&dir);
        q.create_dirs().unwrap();
        for to in ["a@x.test", "b@x.test"] {
            let w = q.create(QueueName::Incoming).unwrap();
            let mut env = Envelope::new("s@x.test");
            env.recipients.push(Recipient::new(to));
            w.commit(&mut env, b"hi\n").unwrap();
        }
        let listed = write_listing(&q, Layout::Compat, Vec::new()).unwrap();
        let text = String::from_utf8(listed).unwrap();
        assert_eq!(text, render_compat(&collect(&q)));
        assert!(text.ends_with("-- 0 Kbytes in 2 Requests.\n"), "{}", text);
        let json = write_listing(&q, Layout::Json, Vec::new()).unwrap();
        assert_eq!(json.iter().filter(|&&b| b == b'\n').count(), 2);

        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let e = write_listing(&q, Layout::Compat, Closed).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_listing_is_complete_only_with_its_end() {
        assert!(is_complete(b"x\n\n-- 2 Kbytes in 3 Requests.\n"));
        assert!(is_complete(b"\n-- 0 Kbytes in 1 Request.\n"));
        assert!(is_complete(b"Mail queue is empty\n"));
        assert!(!is_complete(
            b"-Queue ID-  --Size--\nABCDEF1   5 Thu Jan  1 00:00:00  a@b\n"
        ));
        assert!(!is_complete(b""));
    }
}
