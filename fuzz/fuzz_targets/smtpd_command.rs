//! Fuzzes the SMTP command reader: `smtpd::chat::Chat::read_line` over an in-memory stream
//! (CR LF and bare LF line ends, over-long lines skipped to their end, replies queued and
//! flushed as in pipelining), with the MAIL/RCPT argument parser on every line that names
//! one. The first input byte picks the line length limit (1 to 1021; the session's is
//! $line_length_limit, at least 512), the rest is the client's input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::smtpd::address;
use postern::smtpd::chat::{Chat, Line};

#[path = "../common/mem.rs"]
mod mem;
use mem::Mem;

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let limit = 1 + usize::from(first) * 4;
    let mut chat = Chat::new(Mem::new(input));
    let mut lines = 0usize;
    while let Ok(line) = chat.read_line(limit) {
        lines += 1;
        assert!(lines <= input.len(), "more lines than input bytes");
        let text = match line {
            Line::TooLong => {
                chat.reply("500 5.5.2 Error: command too long");
                continue;
            }
            Line::Text(bytes) => {
                assert!(bytes.len() <= limit, "line over the limit");
                assert!(!bytes.contains(&b'\n'), "line with its LF");
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
        let trimmed = text.trim_start();
        let (verb, args) = match trimmed.find(char::is_whitespace) {
            Some(i) => (&trimmed[..i], trimmed[i..].trim()),
            None => (trimmed, ""),
        };
        let keyword = match verb.to_ascii_uppercase().as_str() {
            "MAIL" => "FROM",
            "RCPT" => "TO",
            _ => {
                chat.reply("250 2.0.0 Ok");
                continue;
            }
        };
        match address::parse_path(args, keyword) {
            Ok(_) => chat.reply("250 2.1.0 Ok"),
            Err(_) => chat.reply("501 5.1.7 Bad address syntax"),
        }
        if !chat.has_buffered_input() {
            let _ = chat.flush();
        }
    }
});
