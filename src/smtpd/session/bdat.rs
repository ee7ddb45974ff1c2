//! BDAT (RFC 3030 CHUNKING, without BINARYMIME) as Postfix 3.4+'s smtpd does it
//! (smtpd.c bdat_cmd, skip_bdat): `BDAT size [LAST]` is followed by exactly `size` bytes
//! of content; each chunk gets `250 2.0.0 Ok: N bytes`, the last one
//! `250 2.0.0 Ok: N bytes queued as ID`. The first chunk of a transaction makes DATA's
//! checks (`message::start_message`); the content takes DATA's way to cleanup
//! (`message::queue_message`), its line ends normalised by `smtpd::chunk`.
//!
//! A chunk that cannot be accepted is still read and discarded, so the session stays in
//! step with a pipelining client: after a failed chunk every BDAT gets `551 5.0.0
//! Discarded N bytes after earlier error` until BDAT LAST or RSET. A malformed BDAT line,
//! or BDAT while CHUNKING is discarded (smtpd_discard_ehlo_keywords, `ehlo`), ends the session
//! with 521: what follows would be content read as commands.
//!
//! Security role: never reads content as commands and never ends a message anywhere but
//! at the announced byte count (no SMTP smuggling); bounds each message by
//! $message_size_limit before a chunk is read; a message is queued only after its last
//! chunk and is dropped when the client goes away. Logs (via log::lines) the malformed,
//! null and too-large BDAT warnings, the bare-LF reject, and `lost connection` /
//! `timeout after BDAT (N bytes)`.

use std::io::{Read, Write};

use super::message::Started;
use super::{End, Session};
use crate::log::lines;
use crate::reply::Reply;
use crate::smtpd::chat::Peek;
use crate::smtpd::chunk::Content;

/// The stage after a chunk that is not the last (Postfix's SMTPD_AFTER_BDAT), in the
/// log lines of what happens before the next command.
const BETWEEN_CHUNKS: &str = "BDAT content";

/// Where a transaction is with BDAT (Postfix's bdat_state).
#[derive(Default)]
pub(super) enum Bdat {
    /// No BDAT in this transaction.
    #[default]
    None,
    /// Chunks are being accepted into an open queue file.
    Receiving(Box<Chunks>),
    /// A chunk failed: later chunks are discarded until BDAT LAST or RSET.
    Skipping,
}

impl Bdat {
    /// A BDAT was seen in this transaction (DATA, MAIL and RCPT are refused).
    pub(super) fn active(&self) -> bool {
        !matches!(self, Bdat::None)
    }
}

/// The message being received.
pub(super) struct Chunks {
    started: Started,
    content: Content,
}

/// A BDAT command line's arguments: the chunk size and whether it is the last.
pub(super) fn parse_args(args: &str) -> Option<(u64, bool)> {
    let words: Vec<&str> = args.split_ascii_whitespace().collect();
    let (size, last) = match words.as_slice() {
        [size] => (size, false),
        [size, last] if last.eq_ignore_ascii_case("LAST") => (size, true),
        _ => return None,
    };
    if !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    size.parse().ok().map(|s| (s, last))
}

impl<S: Read + Write + Peek> Session<'_, S> {
    /// BDAT: read one chunk and answer it.
    pub(super) fn bdat_cmd(&mut self, args: &str) -> Option<End> {
        if self.discards("CHUNKING") {
            self.reply(&Reply::with_dsn(
                521,
                "5.5.1",
                "Error: command not implemented",
            ));
            return Some(End::Hangup);
        }
        let Some((size, last)) = parse_args(args) else {
            let line = format!("BDAT {}", args);
            lines::bdat_malformed(self.queue_id(), &self.client_log, &line);
            self.reply(&Reply::with_dsn(521, "5.5.4", "Syntax: BDAT count [LAST]"));
            return Some(End::Hangup);
        };
        if size == 0 && !last {
            lines::bdat_null(self.queue_id(), &self.client_log);
            let r = Reply::with_dsn(551, "5.7.1", "Null BDAT request");
            return self.skip_bdat(size, last, &r);
        }
        if matches!(self.bdat, Bdat::Skipping) {
            let text = format!("Discarded {} bytes after earlier error", size);
            return self.skip_bdat(size, last, &Reply::with_dsn(551, "5.0.0", &text));
        }
        let mut chunks = match std::mem::take(&mut self.bdat) {
            Bdat::Receiving(c) => c,
            _ => match self.start_message("DATA") {
                Ok(started) => Box::new(Chunks {
                    started,
                    content: Content::new(self.ctx.message_size_limit),
                }),
                Err(reply) => return self.skip_bdat(size, last, &reply),
            },
        };
        let limit = self.ctx.message_size_limit;
        if limit > 0 && chunks.content.received().saturating_add(size) > limit {
            lines::bdat_too_big(Some(&chunks.started.id), &self.client_log);
            let r = Reply::with_dsn(552, "5.3.4", "Chunk exceeds message size limit");
            return self.skip_bdat(size, last, &r);
        }
        // A stop lets this chunk (and the message, at the last one) end with its reply.
        let _busy = crate::smtpd::stopping::Busy::enter();
        let content = &mut chunks.content;
        let read = self.chat.read_chunk(size, &mut |piece| content.feed(piece));
        if let Err(e) = read {
            // The queue file is dropped with `chunks`: nothing is queued.
            let stage = format!("BDAT ({} bytes)", chunks.content.received());
            self.chat_failed(e, &stage);
            return Some(End::Hangup);
        }
        if last {
            chunks.content.finish();
        }
        if let Some(reply) = self.chunk_refusal(&chunks, last) {
            self.reply(&reply);
            self.tx = None;
            self.bdat = if last { Bdat::None } else { Bdat::Skipping };
            return None;
        }
        if !last {
            self.bdat = Bdat::Receiving(chunks);
            self.stage = BETWEEN_CHUNKS.to_string();
            self.chat.reply(&format!("250 2.0.0 Ok: {} bytes", size));
            return None;
        }
        self.stage = "END-OF-MESSAGE".to_string();
        let tx = self.tx.take()?;
        let Chunks { started, content } = *chunks;
        if let Some(id) = self.queue_message(tx, started, content.bytes) {
            let text = format!("250 2.0.0 Ok: {} bytes queued as {}", content.size, id);
            self.chat.reply(&text);
        }
        None
    }

    /// The stage for `lost connection` / `timeout after STAGE`: between two chunks it
    /// carries the byte count, as Postfix's does.
    pub(super) fn failure_stage(&self) -> String {
        match &self.bdat {
            Bdat::Receiving(c) if self.stage == BETWEEN_CHUNKS => {
                format!("BDAT ({} bytes)", c.content.received())
            }
            _ => self.stage.clone(),
        }
    }

    /// The queue ID of the message being received, for warnings.
    fn queue_id(&self) -> Option<&str> {
        match &self.bdat {
            Bdat::Receiving(c) => Some(&c.started.id),
            _ => None,
        }
    }

    /// After a chunk: the refusal when its content is not acceptable (bare LF refused for
    /// this client, or the message over $message_size_limit), logged.
    fn chunk_refusal(&self, chunks: &Chunks, last: bool) -> Option<Reply> {
        let id = chunks.started.id.as_str();
        if let Some(reply) = self.bare_lf_reply().filter(|_| chunks.content.bare_lf) {
            let stage = if last {
                "END-OF-MESSAGE"
            } else {
                "BDAT content"
            };
            self.log_bare_lf(id, stage);
            return Some(reply);
        }
        if chunks.content.too_big {
            return Some(super::message::too_big(id));
        }
        None
    }

    /// Read and discard a chunk, then answer `reply` (Postfix's skip_bdat). After BDAT
    /// LAST the transaction is over; otherwise later chunks are discarded too.
    fn skip_bdat(&mut self, size: u64, last: bool, reply: &Reply) -> Option<End> {
        if let Err(e) = self.chat.read_chunk(size, &mut |_| {}) {
            self.chat_failed(e, "BDAT");
            return Some(End::Hangup);
        }
        self.reply(reply);
        if last {
            self.tx = None;
            self.bdat = Bdat::None;
        } else {
            self.bdat = Bdat::Skipping;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::parse_args;

    #[test]
    fn bdat_arguments_as_postfix_reads_them() {
        assert_eq!(parse_args("6"), Some((6, false)));
        assert_eq!(parse_args("0 LAST"), Some((0, true)));
        assert_eq!(parse_args("12  last"), Some((12, true)));
        for bad in [
            "",
            "LAST",
            "-1",
            "+5",
            "5 LAST x",
            "5 FIRST",
            "0x10",
            "99999999999999999999999",
            "\u{0661}",
        ] {
            assert_eq!(parse_args(bad), None, "{:?}", bad);
        }
    }
}
