//! Postfix's own queue files (2.x and 3.x), read so that mail a Postfix installation left
//! in the queue is delivered by Postern (`import`) and shown by `postcat`.
//!
//! The format (Postfix's rec_type.h, record.c; written by cleanup(8) and postdrop(1)): a
//! sequence of records, each one type byte, the payload length as a base-128 varint (low
//! seven bits first, high bit set when more length bytes follow), then the payload. The
//! envelope section comes first (`C` sizes, `T` arrival "seconds microseconds", `S` sender,
//! `A` name=value attributes, `O` original recipient, `R` recipient to do, `D` delivered,
//! `/` cancelled, DSN `i` envid, `<` ret, `n` notify, `o` orcpt), then `M` starts the
//! content (`N` a line, `L` part of a longer line), `X` starts the extracted section
//! (more recipients and attributes) and `E` ends the file. `p` is a pointer record: its
//! value is an offset at which reading continues (0: a placeholder); cleanup uses it when
//! it appends recipients or edits headers. `w` is padding, `K` a killed record.
//!
//! Security role: the files come from another program's spool and are parsed as untrusted
//! bytes: every length is bounds-checked, pointer loops are cut off (as Postfix's
//! rec_goto does), and a malformed file is an error naming the offset, never a panic.
//! Logs nothing itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::file::{Envelope, Recipient};

/// A Postfix queue file, read.
#[derive(Debug, Clone, PartialEq)]
pub struct PostfixMessage {
    pub envelope: Envelope,
    /// Headers, blank line, body; LF line ends (as Postern's `M` record).
    pub content: Vec<u8>,
    /// Recipients already delivered or cancelled (not in `envelope.recipients`).
    pub done: usize,
}

/// Whether `data` looks like a Postfix queue file rather than Postern's (which starts with
/// `V1:`): its first record is cleanup's size record or postdrop's arrival time.
pub fn looks_like_postfix(data: &[u8]) -> bool {
    !data.starts_with(b"V1:") && matches!(data.first(), Some(b'C') | Some(b'T'))
}

/// Reverse pointer jumps allowed (Postfix's REVERSE_JUMP_LIMIT).
const REVERSE_JUMP_LIMIT: usize = 10000;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    reverse_jumps: usize,
}

impl<'a> Reader<'a> {
    /// The next record, with pointer records followed; None at the end of the data.
    fn next(&mut self) -> Result<Option<(u8, &'a [u8])>, String> {
        loop {
            let Some(&kind) = self.data.get(self.pos) else {
                return Ok(None);
            };
            let at = self.pos;
            let mut len: usize = 0;
            let mut shift = 0;
            let mut p = at + 1;
            loop {
                let b = *self
                    .data
                    .get(p)
                    .ok_or_else(|| format!("truncated record length at offset {}", at))?;
                p += 1;
                if shift >= 28 {
                    return Err(format!("bad record length at offset {}", at));
                }
                len |= ((b & 0x7f) as usize) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let payload = self
                .data
                .get(p..p + len)
                .ok_or_else(|| format!("truncated record at offset {}", at))?;
            self.pos = p + len;
            if kind != b'p' {
                return Ok(Some((kind, payload)));
            }
            let text = std::str::from_utf8(payload).unwrap_or("").trim();
            let offset: usize = text
                .parse()
                .map_err(|_| format!("malformed pointer record at offset {}", at))?;
            if offset == 0 {
                continue;
            }
            if offset <= at {
                self.reverse_jumps += 1;
                if self.reverse_jumps > REVERSE_JUMP_LIMIT {
                    return Err("too many reverse jump records".into());
                }
            }
            if offset >= self.data.len() {
                return Err(format!("pointer record beyond the end at offset {}", at));
            }
            self.pos = offset;
        }
    }
}

fn text(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload).into_owned()
}

/// Postfix's arrival time "SECONDS MICROSECONDS" (2.x may write seconds only).
fn arrival(payload: &[u8]) -> Option<SystemTime> {
    let t = text(payload);
    let mut f = t.split_whitespace();
    let secs: u64 = f.next()?.parse().ok()?;
    let micros: u64 = f.next().and_then(|u| u.parse().ok()).unwrap_or(0);
    UNIX_EPOCH.checked_add(Duration::from_secs(secs) + Duration::from_micros(micros % 1_000_000))
}

/// DSN NOTIFY bit mask (dsn_mask.h) as Postern's text.
fn notify(payload: &[u8]) -> Option<String> {
    let mask: u32 = text(payload).trim().parse().ok()?;
    if mask & 1 != 0 {
        return Some("NEVER".into());
    }
    let names: Vec<&str> = [(2, "SUCCESS"), (4, "FAILURE"), (8, "DELAY")]
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    (!names.is_empty()).then(|| names.join(","))
}

/// Attributes Postern keeps from Postfix's `A` records (others are Postfix-internal).
const KEPT_ATTRS: &[&str] = &[
    "client_name",
    "client_address",
    "helo_name",
    "protocol_name",
    "rewrite_context",
    "sasl_username",
    "sasl_method",
];

/// Per-recipient DSN values seen before the recipient record.
#[derive(Default)]
struct Pending {
    orig: Option<String>,
    notify: Option<String>,
    orcpt: Option<String>,
}

/// Parse a Postfix queue file.
pub fn parse(data: &[u8]) -> Result<PostfixMessage, String> {
    if !looks_like_postfix(data) {
        return Err("not a Postfix queue file".into());
    }
    let mut r = Reader {
        data,
        pos: 0,
        reverse_jumps: 0,
    };
    let mut env = Envelope::new("");
    let mut sender = None;
    let mut have_time = false;
    let mut content = Vec::new();
    let mut in_content = false;
    let mut ended = false;
    let mut done = 0;
    let mut pending = Pending::default();
    while let Some((kind, payload)) = r.next()? {
        if in_content {
            match kind {
                b'N' => {
                    content.extend_from_slice(payload);
                    content.push(b'\n');
                }
                b'L' => content.extend_from_slice(payload),
                b'w' => {}
                b'X' => in_content = false,
                other => {
                    return Err(format!(
                        "unexpected record type '{}' in the message content",
                        other.escape_ascii()
                    ));
                }
            }
            continue;
        }
        match kind {
            b'T' => {
                env.arrival = arrival(payload).ok_or("bad arrival time record")?;
                have_time = true;
            }
            b'S' => sender = Some(text(payload)),
            b'A' => {
                let t = text(payload);
                if let Some((n, v)) = t.split_once('=')
                    && KEPT_ATTRS.contains(&n)
                {
                    env.set_attr(n, v);
                }
            }
            b'i' => env.set_attr("envid", &text(payload)),
            b'<' => match text(payload).trim() {
                "1" => env.set_attr("ret", "FULL"),
                "2" => env.set_attr("ret", "HDRS"),
                _ => {}
            },
            b'O' => pending.orig = Some(text(payload)),
            b'n' => pending.notify = notify(payload),
            b'o' => pending.orcpt = Some(text(payload)),
            b'R' => {
                let p = std::mem::take(&mut pending);
                let mut rcpt = Recipient::new(&text(payload));
                rcpt.orig = p.orig.filter(|o| *o != rcpt.address);
                rcpt.notify = p.notify;
                rcpt.orcpt = p.orcpt;
                env.recipients.push(rcpt);
            }
            b'D' | b'/' => {
                pending = Pending::default();
                done += 1;
            }
            // The size record's sixth field: Postfix 3's SMTPUTF8 flags, kept as ours.
            b'C' => {
                let t = text(payload);
                match t
                    .split_whitespace()
                    .nth(5)
                    .and_then(|f| f.parse::<u32>().ok())
                {
                    Some(f) if f & 7 != 0 => env.set_attr("smtputf8", &(f & 7).to_string()),
                    _ => {}
                }
            }
            b'M' => in_content = true,
            b'E' => {
                ended = true;
                break;
            }
            // Sizes, create time, full name, filters, flags, warning time, VERP, priority,
            // return-receipt/errors-to, redirect, milter count, padding, killed records.
            b'c' | b'F' | b'I' | b'L' | b'f' | b'd' | b'W' | b'V' | b'P' | b'r' | b'e' | b'>'
            | b'm' | b'w' | b'K' => {}
            other => {
                return Err(format!("unknown record type '{}'", other.escape_ascii()));
            }
        }
    }
    if !ended {
        return Err("no end record (an incomplete queue file)".into());
    }
    if !have_time {
        return Err("no arrival time record".into());
    }
    env.sender = sender.ok_or("no sender record")?;
    Ok(PostfixMessage {
        envelope: env,
        content,
        done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
        out.push(kind);
        let mut len = payload.len();
        loop {
            let b = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(payload);
    }

    #[test]
    fn records_long_lengths_pointers_and_dsn() {
        let mut f = Vec::new();
        rec(&mut f, b'C', b"    1     2     3     0     1     5");
        rec(&mut f, b'T', b"1700000000 250000");
        rec(&mut f, b'S', b"a@b.example");
        rec(&mut f, b'A', b"client_address=192.0.2.1");
        rec(&mut f, b'A', b"log_ident=X");
        rec(&mut f, b'i', b"ENV1");
        rec(&mut f, b'<', b"2");
        rec(&mut f, b'D', b"gone@x.example");
        let ptr_at = f.len();
        rec(&mut f, b'p', b"              0");
        rec(&mut f, b'M', b"");
        rec(&mut f, b'N', b"Subject: s");
        rec(&mut f, b'N', b"");
        let long = vec![b'x'; 300];
        rec(&mut f, b'L', &long);
        rec(&mut f, b'N', b"y");
        rec(&mut f, b'X', b"");
        rec(&mut f, b'E', b"");
        // The appended recipient, reached through the placeholder pointer.
        let appended = f.len();
        rec(&mut f, b'n', b"6");
        rec(&mut f, b'o', b"rfc822;Orig@x.example");
        rec(&mut f, b'O', b"orig@x.example");
        rec(&mut f, b'R', b"new@x.example");
        rec(&mut f, b'p', format!("{:15}", ptr_at + 17).as_bytes());
        let ptr = format!("{:15}", appended);
        f[ptr_at + 2..ptr_at + 17].copy_from_slice(ptr.as_bytes());
        let m = parse(&f).unwrap();
        assert_eq!(m.envelope.sender, "a@b.example");
        assert_eq!(m.done, 1);
        assert_eq!(m.envelope.attr("client_address"), Some("192.0.2.1"));
        assert_eq!(m.envelope.attr("log_ident"), None);
        assert_eq!(m.envelope.attr("envid"), Some("ENV1"));
        assert_eq!(m.envelope.attr("ret"), Some("HDRS"));
        // Postfix 3's SMTPUTF8 flags (requested, UTF-8 sender) from the size record.
        assert_eq!(m.envelope.attr("smtputf8"), Some("5"));
        let r = &m.envelope.recipients[..];
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].address, "new@x.example");
        assert_eq!(r[0].orig.as_deref(), Some("orig@x.example"));
        assert_eq!(r[0].notify.as_deref(), Some("SUCCESS,FAILURE"));
        assert_eq!(r[0].orcpt.as_deref(), Some("rfc822;Orig@x.example"));
        let mut want = b"Subject: s\n\n".to_vec();
        want.extend_from_slice(&long);
        want.extend_from_slice(b"y\n");
        assert_eq!(m.content, want);
        assert_eq!(
            m.envelope.arrival,
            UNIX_EPOCH + Duration::from_micros(1_700_000_000_250_000)
        );
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(parse(b"V1:1\n").is_err());
        assert!(parse(b"T").unwrap_err().contains("truncated"));
        assert!(parse(b"T\x05123").unwrap_err().contains("truncated"));
        let mut f = Vec::new();
        rec(&mut f, b'T', b"1 0");
        rec(&mut f, b'S', b"");
        assert!(parse(&f).unwrap_err().contains("no end record"));
        rec(&mut f, b'Z', b"");
        assert!(parse(&f).unwrap_err().contains("unknown record type"));
        // A pointer to itself loops until the reverse jump limit.
        let mut f = Vec::new();
        rec(&mut f, b'T', b"1 0");
        rec(&mut f, b'p', b"5");
        assert!(parse(&f).unwrap_err().contains("reverse jump"));
    }
}
