//! MIME structure of a message, walked line by line for content inspection (Postfix's
//! mime_state(3)): the primary header block, the header block of every multipart body part
//! (after a boundary line), the header block at the start of an attached message/rfc822
//! (and multipart/digest parts, whose default type is message/rfc822), and every body line
//! with its offset in its body part. Content has LF line ends.
//!
//! Follows Postfix: multi-line headers are one logical header; a boundary line is a body
//! line starting with `--boundary` (trailing text ignored, `--boundary--` closes the
//! multipart); boundaries of outer levels are recognised inside inner ones, which recovers
//! from a missing closing boundary; boundary strings are cut to mime_boundary_length_limit;
//! a multipart deeper than mime_nesting_limit is reported (Postfix 2.10 counting) and its
//! boundary is not pushed; a header block ended by a line that is neither a header nor
//! empty switches to body text. With disable_mime_input_processing only the primary header
//! block is told apart from the body. RFC 2045/2046.
//!
//! Security role: parses untrusted text with bounded state (at most mime_nesting_limit + 1
//! boundaries, each at most mime_boundary_length_limit bytes); never rewrites. Logs nothing.

use std::ops::Range;

/// Where a header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The message's own header block.
    Primary,
    /// The header block after a multipart boundary.
    Multipart,
    /// The header block of an attached message/rfc822.
    Nested,
}

/// One piece of the message: a logical header or a body line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Header(Class),
    /// A body line and its offset from the start of its body part (line ends count one).
    Body(usize),
}

/// A piece and its bytes in the content (the final newline included, when there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub kind: Kind,
    pub span: Range<usize>,
}

/// mime_nesting_limit, mime_boundary_length_limit, disable_mime_input_processing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub nesting: usize,
    pub boundary_len: usize,
    pub disable_mime: bool,
}

impl Limits {
    /// The limits of `cfg`.
    pub fn of(cfg: &crate::config::Config) -> Limits {
        Limits {
            nesting: cfg.int("mime_nesting_limit").max(0) as usize,
            boundary_len: cfg.int("mime_boundary_length_limit").max(1) as usize,
            disable_mime: cfg.bool("disable_mime_input_processing"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ctype {
    Text,
    Rfc822,
    Message,
    Multipart,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Head(Class),
    Body,
}

struct Frame {
    boundary: Vec<u8>,
    default: Ctype,
}

struct Walker<'a> {
    content: &'a [u8],
    limits: Limits,
    stack: Vec<Frame>,
    state: State,
    ctype: Ctype,
    offset: usize,
    /// The first Content-Type header that went past the nesting limit.
    nesting_error: Option<Range<usize>>,
}

/// The length of the header name when `line` starts a header (`name:`, blanks allowed
/// before the colon), as Postfix's is_header().
pub fn header_name_len(line: &[u8]) -> Option<usize> {
    let n = line
        .iter()
        .position(|&b| !(33..=126).contains(&b) || b == b':')?;
    let rest = line.get(n..)?;
    let colon = rest.iter().position(|&b| b != b' ' && b != b'\t')?;
    (n > 0 && rest.get(colon) == Some(&b':')).then_some(n)
}

/// Walk `content`, calling `visit` for every piece in order until it returns false. Every
/// byte of the content is in exactly one piece. Returns the span of the first Content-Type
/// header that exceeded the nesting limit, if any.
pub fn walk(
    content: &[u8],
    limits: Limits,
    visit: &mut dyn FnMut(Piece) -> bool,
) -> Option<Range<usize>> {
    let mut w = Walker {
        content,
        limits,
        stack: Vec::new(),
        state: State::Head(Class::Primary),
        ctype: Ctype::Text,
        offset: 0,
        nesting_error: None,
    };
    w.run(visit);
    w.nesting_error
}

impl Walker<'_> {
    fn run(&mut self, visit: &mut dyn FnMut(Piece) -> bool) {
        let content = self.content;
        let mut pos = 0;
        let mut pending: Option<usize> = None;
        while pos < content.len() {
            let end = content[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(content.len(), |i| pos + i + 1);
            let line = content.get(pos..end).unwrap_or_default();
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            if let State::Head(class) = self.state {
                if pending.is_some() && matches!(text.first(), Some(b' ' | b'\t')) {
                    pos = end;
                    continue;
                }
                if let Some(start) = pending.take()
                    && !self.header_done(class, start..pos, visit)
                {
                    return;
                }
                if header_name_len(text).is_some() {
                    pending = Some(pos);
                    pos = end;
                    continue;
                }
                self.end_of_headers(text.is_empty());
            }
            if !self.body_line(text, pos..end, visit) {
                return;
            }
            pos = end;
        }
        if let (Some(start), State::Head(class)) = (pending, self.state) {
            self.header_done(class, start..content.len(), visit);
        }
    }

    /// A header block ended (with an empty line, or with a line that is no header).
    fn end_of_headers(&mut self, empty: bool) {
        self.offset = 0;
        self.state = State::Body;
        if !empty {
            return;
        }
        match self.ctype {
            Ctype::Rfc822 => {
                self.state = State::Head(Class::Nested);
                self.ctype = Ctype::Text;
            }
            Ctype::Multipart => self.ctype = Ctype::Other,
            _ => {}
        }
    }

    fn header_done(
        &mut self,
        class: Class,
        span: Range<usize>,
        visit: &mut dyn FnMut(Piece) -> bool,
    ) -> bool {
        let text = self.content.get(span.clone()).unwrap_or_default();
        if !self.limits.disable_mime
            && let Some(n) = header_name_len(text)
            && text[..n].eq_ignore_ascii_case(b"content-type")
        {
            let value = text.get(n..).unwrap_or_default();
            let value = &value[value.iter().position(|&b| b == b':').map_or(0, |i| i + 1)..];
            self.content_type(value, &span);
        }
        visit(Piece {
            kind: Kind::Header(class),
            span,
        })
    }

    fn content_type(&mut self, value: &[u8], span: &Range<usize>) {
        let mut params = value.split(|&b| b == b';');
        let kind = tokens(params.next().unwrap_or_default());
        let word = |i: usize| kind.get(i).map(|t| t.to_ascii_lowercase());
        let subtype = if kind.get(1).map(Vec::as_slice) == Some(b"/") {
            word(2)
        } else {
            None
        };
        let (ctype, default) = match word(0).as_deref() {
            Some(b"text") => (Ctype::Text, Ctype::Text),
            Some(b"message") if subtype.as_deref() == Some(b"rfc822") => {
                (Ctype::Rfc822, Ctype::Text)
            }
            Some(b"message") => (Ctype::Message, Ctype::Text),
            Some(b"multipart") if subtype.as_deref() == Some(b"digest") => {
                (Ctype::Multipart, Ctype::Rfc822)
            }
            Some(b"multipart") => (Ctype::Multipart, Ctype::Text),
            Some(_) => (Ctype::Other, Ctype::Text),
            None => return,
        };
        self.ctype = ctype;
        if ctype != Ctype::Multipart {
            return;
        }
        for p in params {
            let t = tokens(p);
            if t.len() >= 3 && t[0].eq_ignore_ascii_case(b"boundary") && t[1] == b"=" {
                if self.stack.len() > self.limits.nesting {
                    self.nesting_error.get_or_insert(span.clone());
                    continue;
                }
                let mut boundary = t[2].clone();
                boundary.truncate(self.limits.boundary_len);
                self.stack.push(Frame { boundary, default });
            }
        }
    }

    fn body_line(
        &mut self,
        text: &[u8],
        span: Range<usize>,
        visit: &mut dyn FnMut(Piece) -> bool,
    ) -> bool {
        if !self.stack.is_empty() && text.len() > 2 && text.starts_with(b"--") {
            self.boundary(&text[2..]);
        }
        let piece = Piece {
            kind: Kind::Body(self.offset),
            span,
        };
        self.offset += text.len() + 1;
        visit(piece)
    }

    /// A line starting with `--`: the boundary of an open multipart (innermost first)?
    fn boundary(&mut self, rest: &[u8]) {
        let Some(i) = (0..self.stack.len())
            .rev()
            .find(|&i| rest.starts_with(&self.stack[i].boundary))
        else {
            return;
        };
        let after = &rest[self.stack[i].boundary.len()..];
        self.stack.truncate(i + 1);
        if after.starts_with(b"--") {
            self.stack.pop();
            self.state = State::Body;
            self.ctype = Ctype::Other;
            self.offset = 0;
        } else {
            self.state = State::Head(Class::Multipart);
            self.ctype = self.stack[i].default;
        }
    }
}

/// RFC 2045 tokens of a Content-Type segment: words, quoted strings (unquoted), and the
/// tspecials `/` and `=` as one-byte tokens; comments and blanks skipped.
fn tokens(s: &[u8]) -> Vec<Vec<u8>> {
    const SPECIALS: &[u8] = b"()<>@,;:\\\"/[]?=";
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'(' {
            let mut depth = 0usize;
            while i < s.len() {
                match s[i] {
                    b'(' => depth += 1,
                    b')' => depth = depth.saturating_sub(1),
                    b'\\' => i += 1,
                    _ => {}
                }
                i += 1;
                if depth == 0 {
                    break;
                }
            }
        } else if c == b'"' {
            let mut word = Vec::new();
            i += 1;
            while i < s.len() && s[i] != b'"' {
                if s[i] == b'\\' && i + 1 < s.len() {
                    i += 1;
                }
                if s[i] != b'\n' {
                    word.push(s[i]);
                }
                i += 1;
            }
            i += 1;
            out.push(word);
        } else if SPECIALS.contains(&c) {
            out.push(vec![c]);
            i += 1;
        } else {
            let start = i;
            while i < s.len()
                && !s[i].is_ascii_whitespace()
                && !s[i].is_ascii_control()
                && !SPECIALS.contains(&s[i])
            {
                i += 1;
            }
            if i == start {
                i += 1;
            } else {
                out.push(s[start..i].to_vec());
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "mime_tests.rs"]
mod tests;
