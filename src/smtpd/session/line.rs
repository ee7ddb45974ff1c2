//! A command line between the reader and the dispatcher: the checks made on its bytes
//! before it is text (too long, bare LF with smtpd_forbid_bare_newline = reject, NUL,
//! invalid UTF-8) and its split into verb and arguments.
//!
//! Security role: network input stays bytes until it is known to be UTF-8 (Postfix 3.x's
//! `500 5.5.2 Error: bad UTF-8 syntax`), so nothing downstream sees U+FFFD or can slice
//! through a character; the split is at ASCII white space, never at a byte index. Logs only
//! through `bare_lf` (a refused bare LF).

use std::io::{Read, Write};

use super::Session;
use crate::smtpd::chat::Line;

/// Why a line is not handed on.
pub(super) enum Refused {
    /// Answered; read the next line.
    Answered,
    /// The session must end (the reply is queued).
    Hangup,
}

impl<S: Read + Write> Session<'_, S> {
    /// The line as text, or the reason it was refused (already answered).
    pub(super) fn check_line<'l>(&mut self, line: &'l Line) -> Result<&'l str, Refused> {
        let bytes = match line {
            Line::TooLong => {
                let r = format!("{} Error: command too long", self.ctx.myhostname);
                self.refuse(500, "5.5.2", &r);
                return Err(Refused::Answered);
            }
            Line::Text(b) => b,
        };
        if self.refuse_bare_lf_command() {
            return Err(Refused::Hangup);
        }
        if bytes.contains(&0) {
            self.stats.count_unknown();
            self.refuse(500, "5.5.2", "Error: NUL character in command");
            return Err(Refused::Answered);
        }
        std::str::from_utf8(bytes).map_err(|_| {
            self.stage = "UNKNOWN".to_string();
            self.stats.count_unknown();
            self.refuse(500, "5.5.2", "Error: bad UTF-8 syntax");
            Refused::Answered
        })
    }
}

/// Split a command line into its verb and arguments at the first ASCII white space
/// (SMTP's separators), without indexing into the text.
pub(super) fn split_command(line: &str) -> (&str, &str) {
    let trimmed = line.trim_start_matches(|c: char| c.is_ascii_whitespace());
    match trimmed.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((name, args)) => (name, args.trim_matches(|c: char| c.is_ascii_whitespace())),
        None => (trimmed, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_command_on_ascii_white_space() {
        assert_eq!(split_command("  MAIL  FROM:<a>  "), ("MAIL", "FROM:<a>"));
        assert_eq!(split_command("NOOP"), ("NOOP", ""));
        assert_eq!(split_command("\u{e9}\u{a0}x"), ("\u{e9}\u{a0}x", ""));
        assert_eq!(split_command(""), ("", ""));
    }
}
