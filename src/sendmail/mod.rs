//! sendmail(1), the Sendmail-compatible submission interface (-f, -r, -F, -t, -i, -oi,
//! -o..., -B, -N, -R, -V, -v, `--`; `-bp` and the name `mailq` run `postqueue -p`, `-q` runs
//! `postqueue -f`, `-qIid` `postqueue -i id`, `-qRsite` `postqueue -s site`; `-bs` runs an
//! SMTP session on standard input/output, `standalone`). The message is read from standard
//! input, turned into a queue file and handed to postdrop, which writes it into maildrop/.
//!
//! Exit codes follow sysexits.h: EX_USAGE (64) for bad options or no recipients, EX_DATAERR
//! (65) for unreadable input, EX_SOFTWARE (70) when postdrop cannot run, EX_TEMPFAIL (75) when
//! the maildrop cannot be written.

pub mod headers;
pub mod standalone;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::config::Config;
use crate::queue::{Envelope, Queue, Recipient, file};

pub const EX_USAGE: i32 = 64;
pub const EX_DATAERR: i32 = 65;
pub const EX_SOFTWARE: i32 = 70;
pub const EX_TEMPFAIL: i32 = 75;

/// A sendmail failure: exit code and message.
#[derive(Debug, PartialEq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Default)]
pub struct Submit {
    pub sender: Option<String>,
    pub full_name: Option<String>,
    pub extract_recipients: bool,
    pub ignore_dots: bool,
    pub recipients: Vec<String>,
    pub notify: Option<String>,
    pub ret: Option<String>,
    pub envid: Option<String>,
}

/// Read a message from `input`: CR LF becomes LF; unless `ignore_dots`, a line with a single
/// `.` ends the message.
pub fn read_message(
    input: &mut dyn Read,
    ignore_dots: bool,
    limit: usize,
) -> Result<Vec<u8>, Failure> {
    let mut raw = Vec::new();
    let cap = if limit == 0 {
        u64::MAX
    } else {
        limit as u64 + 1
    };
    input
        .take(cap)
        .read_to_end(&mut raw)
        .map_err(|e| Failure::new(EX_DATAERR, format!("error reading input: {}", e)))?;
    if limit > 0 && raw.len() > limit {
        return Err(Failure::new(EX_DATAERR, "message file too big"));
    }
    let mut out = Vec::with_capacity(raw.len() + 1);
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if !ignore_dots && body == b"." {
            break;
        }
        out.extend_from_slice(body);
        out.push(b'\n');
    }
    Ok(out)
}

/// The envelope attribute with the sender as submitted when `qualify` changed it: pickup
/// logs it (`from=<root>`, as Postfix's pickup logs the sender before cleanup qualifies it)
/// and drops it.
pub const SENDER_GIVEN_ATTR: &str = "sender_given";

/// Qualify a bare local name with $myorigin.
pub fn qualify(cfg: &Config, addr: &str) -> String {
    if addr.is_empty() || addr.contains('@') {
        addr.to_string()
    } else {
        format!("{}@{}", addr, cfg.get("myorigin"))
    }
}

/// Build the envelope and content for a submission.
pub fn prepare(
    cfg: &Config,
    opts: &Submit,
    message: Vec<u8>,
) -> Result<(Envelope, Vec<u8>), Failure> {
    let login = crate::sys::user_by_uid(crate::sys::uid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "nobody".into());
    let given = opts.sender.as_deref().unwrap_or(&login);
    let sender = qualify(cfg, given);
    let mut content = message;
    let mut rcpts: Vec<String> = opts.recipients.clone();
    if opts.extract_recipients {
        let (found, stripped) = headers::extract_recipients(&content);
        content = stripped;
        // As Postfix: with -t, command-line recipients are added to the header ones.
        rcpts.extend(found);
    }
    if rcpts.is_empty() {
        return Err(Failure::new(
            EX_USAGE,
            if opts.extract_recipients {
                "No recipient addresses found in message header"
            } else {
                "Recipient addresses must be specified on the command line or via the -t option"
            },
        ));
    }
    let mut env = Envelope::new(&sender);
    if sender != given {
        env.set_attr(SENDER_GIVEN_ATTR, given);
    }
    if let Some(r) = &opts.ret {
        env.set_attr("ret", r);
    }
    if let Some(v) = &opts.envid {
        env.set_attr("envid", v);
    }
    if let Some(f) = &opts.full_name {
        env.set_attr("full_name", f);
    }
    for r in rcpts {
        let q = qualify(cfg, r.trim());
        let mut rec = Recipient::new(&q);
        if q != r.trim() {
            rec.orig = Some(r.trim().to_string());
        }
        rec.notify = opts.notify.clone();
        env.recipients.push(rec);
    }
    Ok((env, content))
}

/// Where the postdrop program is: $command_directory/postdrop, else next to this program.
pub fn postdrop_program(cfg: &Config) -> PathBuf {
    sibling_program(cfg, "postdrop")
}

/// Where a Postern command is: $command_directory/NAME, else next to this program.
pub fn sibling_program(cfg: &Config, name: &str) -> PathBuf {
    let p = Path::new(cfg.get("command_directory")).join(name);
    if p.exists() {
        return p;
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)))
        .unwrap_or(p)
}

/// Hand the message to the maildrop: directly when this process may write there, else
/// through the setgid postdrop program.
pub fn submit(cfg: &Config, env: Envelope, content: &[u8]) -> Result<String, Failure> {
    crate::postdrop::validate(&env).map_err(|e| Failure::new(EX_DATAERR, e))?;
    let queue = Queue::from_config(cfg);
    match crate::postdrop::drop_message(&queue, env.clone(), content) {
        Ok(id) => return Ok(id),
        Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => {
            return Err(Failure::new(
                EX_TEMPFAIL,
                format!("cannot write the maildrop: {}", e),
            ));
        }
        Err(_) => {}
    }
    let mut env = env;
    let data = file::encode(&mut env, content, "");
    let prog = postdrop_program(cfg);
    let mut child = Command::new(&prog)
        .arg("-c")
        .arg(cfg.dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::new(EX_SOFTWARE, format!("cannot run {}: {}", prog.display(), e)))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&data)
            .map_err(|e| Failure::new(EX_TEMPFAIL, format!("write to postdrop: {}", e)))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Failure::new(EX_TEMPFAIL, format!("postdrop: {}", e)))?;
    if !out.status.success() {
        return Err(Failure::new(EX_TEMPFAIL, "postdrop failed"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_ends_input_unless_ignored() {
        let input = b"Subject: x\r\n\r\nline\r\n.\r\nafter\n";
        assert_eq!(
            read_message(&mut &input[..], false, 0).unwrap(),
            b"Subject: x\n\nline\n"
        );
        assert_eq!(
            read_message(&mut &input[..], true, 0).unwrap(),
            b"Subject: x\n\nline\n.\nafter\n"
        );
        assert_eq!(
            read_message(&mut &b"no newline"[..], true, 0).unwrap(),
            b"no newline\n"
        );
        assert_eq!(
            read_message(&mut &b"0123456789"[..], true, 5)
                .unwrap_err()
                .code,
            EX_DATAERR
        );
    }

    #[test]
    fn recipients_required() {
        let cfg = Config::from_pairs(Path::new("/x"), &[("myorigin", "h.test")]);
        let opts = Submit {
            extract_recipients: true,
            ..Default::default()
        };
        let e = prepare(&cfg, &opts, b"Subject: none\n\nbody\n".to_vec()).unwrap_err();
        assert_eq!(e.code, EX_USAGE);
        let opts = Submit {
            recipients: vec!["root".into()],
            sender: Some("me".into()),
            ..Default::default()
        };
        let (env, _) = prepare(&cfg, &opts, b"x\n".to_vec()).unwrap();
        assert_eq!(env.sender, "me@h.test");
        assert_eq!(env.recipients[0].address, "root@h.test");
        assert_eq!(env.recipients[0].orig.as_deref(), Some("root"));
    }
}
