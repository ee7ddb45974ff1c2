//! postcat(1): show a queue file in Postfix's layout: `*** ENVELOPE RECORDS file ***`,
//! `*** MESSAGE CONTENTS file ***`, `*** HEADER EXTRACTED file ***`, `*** MESSAGE FILE END
//! file ***`, with -e (envelope only), -h (headers), -b (body) selecting sections. A
//! queue file that Postfix left is shown the same way (`render_path`, `postfix_file`).

use std::fmt::Write;
use std::time::UNIX_EPOCH;

use super::file::{Envelope, QueueFile, QueueFileError};
use super::postfix_file;
use crate::log::timefmt;

/// Which sections to print (none selected means all).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sections {
    pub envelope: bool,
    pub header: bool,
    pub body: bool,
}

/// Render a queue file; `label` is the name shown in the section lines.
pub fn render(qf: &mut QueueFile, label: &str, sel: Sections) -> std::io::Result<String> {
    let content = qf.content()?;
    let offset = qf.content_offset();
    Ok(render_parts(&qf.envelope, &content, offset, label, sel))
}

/// Render the file at `path`: Postern's format, or else a queue file Postfix left
/// (`postfix_file`), shown the same way.
pub fn render_path(path: &std::path::Path, label: &str, sel: Sections) -> Result<String, String> {
    match QueueFile::open_read_only(path) {
        Ok(mut qf) => render(&mut qf, label, sel).map_err(|e| e.to_string()),
        Err(QueueFileError::Corrupt(why)) => {
            let data = std::fs::read(path).map_err(|e| e.to_string())?;
            if !postfix_file::looks_like_postfix(&data) {
                return Err(why);
            }
            let m = postfix_file::parse(&data).map_err(|e| format!("Postfix queue file: {}", e))?;
            Ok(render_parts(&m.envelope, &m.content, 0, label, sel))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// `offset`: where the content starts in the file (0 when unknown).
fn render_parts(env: &Envelope, content: &[u8], offset: u64, label: &str, sel: Sections) -> String {
    let all = !sel.envelope && !sel.header && !sel.body;
    let mut out = String::new();
    if all || sel.envelope {
        let _ = writeln!(out, "*** ENVELOPE RECORDS {} ***", label);
        let secs = env
            .arrival
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        // Postfix 3's size record: content size, data offset, recipients, queue manager
        // flags, content length, SMTPUTF8 flags (the attribute is shown only here).
        let _ = writeln!(
            out,
            "message_size: {:>16} {:>15} {:>15} {:>15} {:>15} {:>15}",
            content.len(),
            offset,
            env.recipients.len(),
            0,
            content.len(),
            crate::smtputf8::stored(&env.attrs)
        );
        let _ = writeln!(out, "message_arrival_time: {}", timefmt::asctime(secs));
        for (n, v) in env.attrs.iter().filter(|(n, _)| n != crate::smtputf8::ATTR) {
            let _ = writeln!(out, "named_attribute: {}={}", n, v);
        }
        let _ = writeln!(out, "sender: {}", env.sender);
        for r in &env.recipients {
            if let Some(o) = &r.orig {
                let _ = writeln!(out, "original_recipient: {}", o);
            }
            if let Some(n) = &r.notify {
                let _ = writeln!(out, "notify_flags: {}", n);
            }
            if let Some(q) = &r.orcpt {
                let _ = writeln!(out, "dsn_original_recipient: {}", q);
            }
            let _ = writeln!(
                out,
                "{}: {}",
                if r.done {
                    "done_recipient"
                } else {
                    "recipient"
                },
                r.address
            );
        }
    }
    let text = String::from_utf8_lossy(content);
    let split = if text.starts_with('\n') {
        Some(0)
    } else {
        text.find("\n\n").map(|i| i + 1)
    };
    let (headers, body) = match split {
        Some(i) => (&text[..i], &text[i..]),
        None => (&text[..], ""),
    };
    let body = body.strip_prefix('\n').unwrap_or(body);
    if all {
        let _ = writeln!(out, "*** MESSAGE CONTENTS {} ***", label);
        out.push_str(headers);
        out.push('\n');
        out.push_str(body);
        let _ = writeln!(out, "*** HEADER EXTRACTED {} ***", label);
        let _ = writeln!(out, "*** MESSAGE FILE END {} ***", label);
    } else {
        if sel.header {
            out.push_str(headers);
        }
        if sel.body {
            out.push_str(body);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Envelope, Recipient, file};

    #[test]
    fn sections() {
        let dir = std::env::temp_dir().join(format!("postern-cat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("ABCDEF");
        let mut env = Envelope::new("a@b");
        env.recipients.push(Recipient::new("c@d"));
        env.set_attr(crate::smtputf8::ATTR, "3");
        std::fs::write(&p, file::encode(&mut env, b"Subject: s\n\nbody\n", "")).unwrap();
        let mut qf = QueueFile::open_read_only(&p).unwrap();
        let all = render(&mut qf, "active/ABCDEF", Sections::default()).unwrap();
        assert!(all.starts_with("*** ENVELOPE RECORDS active/ABCDEF ***\n"));
        // Postfix 3's six size fields, the last one the SMTPUTF8 flags.
        let size = all.lines().nth(1).unwrap();
        let f: Vec<&str> = size.split_whitespace().collect();
        assert_eq!(f.len(), 7, "{size}");
        assert_eq!((f[1], f[3], f[4], f[5], f[6]), ("17", "1", "0", "17", "3"));
        assert_eq!(f[2], qf.content_offset().to_string());
        assert!(!all.contains("named_attribute: smtputf8"), "{all}");
        assert!(all.contains("sender: a@b\nrecipient: c@d\n*** MESSAGE CONTENTS active/ABCDEF ***\nSubject: s\n\nbody\n"));
        assert!(all.ends_with("*** MESSAGE FILE END active/ABCDEF ***\n"));
        let h = render(
            &mut qf,
            "x",
            Sections {
                header: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(h, "Subject: s\n");
        let b = render(
            &mut qf,
            "x",
            Sections {
                body: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(b, "body\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
