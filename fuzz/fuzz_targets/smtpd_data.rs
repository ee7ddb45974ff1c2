//! Fuzzes the DATA phase reader, `smtpd::chat::Chat::read_data`: dot-unstuffing, the end
//! only at CR LF . CR LF, bare CR and bare LF, $message_size_limit. The first input byte
//! picks the mode:
//!
//! * even: the rest is raw client input after `DATA`; the size limit comes from the second
//!   byte (0 = unlimited). Checks: a complete message within the limit is not marked too
//!   big, a too big one keeps no content, content is never larger than the counted size;
//!   the command reader still works after.
//! * odd: the rest is message content; it is sent as a client would (each line dot-stuffed
//!   and ended with CR LF, then `.` CR LF) and must come back exactly, with LF line ends.

#![no_main]

use std::io::{self, Cursor, Read, Write};

use libfuzzer_sys::fuzz_target;
use postern::smtpd::chat::{Chat, Data};

struct Mem {
    input: Cursor<Vec<u8>>,
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn chat(input: Vec<u8>) -> Chat<Mem> {
    Chat::new(Mem {
        input: Cursor::new(input),
    })
}

fn raw(data: &[u8]) {
    let Some((&l, input)) = data.split_first() else {
        return;
    };
    let limit = u64::from(l) * 16;
    let mut c = chat(input.to_vec());
    let mut d = Data::default();
    let ended = c.read_data(limit, &mut d).is_ok();
    assert!(
        d.content.len() as u64 <= d.size,
        "more content than counted"
    );
    if d.too_big {
        assert!(d.content.is_empty(), "too big but content kept");
    } else if limit > 0 && ended {
        // (A lost connection also counts the unfinished line, stored or not.)
        assert!(d.size <= limit, "over the limit but not too big");
    }
    if ended {
        // The session goes on reading commands after the message.
        while c.read_line(2048).is_ok() {}
    }
}

fn roundtrip(content: &[u8]) {
    let mut wire = Vec::with_capacity(content.len() * 2 + 8);
    let mut expected = Vec::with_capacity(content.len() + 1);
    for line in content.split(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            wire.push(b'.');
        }
        wire.extend_from_slice(line);
        wire.extend_from_slice(b"\r\n");
        expected.extend_from_slice(line);
        expected.push(b'\n');
    }
    wire.extend_from_slice(b".\r\nQUIT\r\n");
    let mut c = chat(wire);
    let mut d = Data::default();
    c.read_data(0, &mut d).expect("a complete message");
    assert!(!d.too_big);
    assert_eq!(d.size, expected.len() as u64);
    assert!(d.content == expected, "content changed in transit");
    let quit = c.read_line(2048).expect("the command after the message");
    assert_eq!(quit, postern::smtpd::chat::Line::Text(b"QUIT".to_vec()));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode.is_multiple_of(2) {
        raw(rest);
    } else {
        roundtrip(rest);
    }
});
