//! postdrop(1): the set-gid ($setgid_group) side of local submission. `postdrop` takes a
//! queue file from its standard input (written by sendmail), checks it, stamps it with the
//! invoking user's real uid, and writes it atomically into maildrop/ (temporary name, fsync,
//! rename, directory fsync); then it pokes the pickup FIFO (`crate::pickup`). `postdrop -r`
//! (`sendmail -bs`) creates the maildrop file and prints its ID before it reads the queue
//! file, which then carries `received=smtpd`.
//!
//! Security role: postdrop trusts nothing on its input (the uid attribute is replaced, only
//! submitter attributes are kept, the file must parse). As in Postfix's mail_conf.c, a
//! set-gid program (postdrop, postqueue) takes a configuration directory other than the
//! default from `-c` or MAIL_CONFIG only when the default main.cf lists it in
//! `alternate_config_directories` or `multi_instance_directories`, or the caller is root
//! (`check_config_dir`); else it ends with Postfix's messages:
//!
//! ```text
//! postdrop: error: unauthorized configuration directory name: DIR
//! postdrop: fatal: specify "alternate_config_directories = DIR" or "multi_instance_directories = DIR" in /etc/postfix/main.cf
//! ```

use std::io::{self, Read, Write};
use std::path::Path;

use crate::config::DEFAULT_CONFIG_DIR;
use crate::queue::{Envelope, Queue, QueueName, file};
use crate::received::RECEIVED_ATTR;

/// The parameters of the default main.cf that authorize another configuration directory.
const DIRECTORY_LISTS: [&str; 2] = ["alternate_config_directories", "multi_instance_directories"];

/// Postfix's rule for set-gid programs: `dir` (from `-c` or MAIL_CONFIG) is used as is when
/// it is the default directory or the caller is trusted (not running with privileges it
/// lacks, see `sys::is_privileged_for_caller`); else `default_dir`/main.cf must list it.
/// `Err` holds the lines to print (`error: ...`, then `fatal: ...`), without the program
/// name.
pub fn check_config_dir(dir: &Path, default_dir: &Path, trusted: bool) -> Result<(), Vec<String>> {
    if trusted || dir == default_dir {
        return Ok(());
    }
    let main_cf = default_dir.join("main.cf");
    let text = std::fs::read_to_string(&main_cf)
        .map_err(|e| vec![format!("fatal: open file {}: {}", main_cf.display(), e)])?;
    let want = dir.to_string_lossy();
    if listed_dirs(&text).any(|d| d == want) {
        return Ok(());
    }
    Err(vec![
        format!("error: unauthorized configuration directory name: {}", want),
        format!(
            "fatal: specify \"{} = {}\" or \"{} = {}\" in {}",
            DIRECTORY_LISTS[0],
            want,
            DIRECTORY_LISTS[1],
            want,
            main_cf.display()
        ),
    ])
}

/// `check_config_dir` for this process: the compiled-in default directory, trusted unless
/// set-gid (or set-uid) for its caller.
pub fn check_own_config_dir(dir: &Path) -> Result<(), Vec<String>> {
    let trusted = !crate::sys::is_privileged_for_caller();
    check_config_dir(dir, Path::new(DEFAULT_CONFIG_DIR), trusted)
}

/// `check_own_config_dir`, ending the program as Postfix's msg_fatal does (exit status 1)
/// when the directory is refused.
pub fn require_own_config_dir(program: &str, dir: &Path) {
    if let Err(lines) = check_own_config_dir(dir) {
        for l in lines {
            eprintln!("{}: {}", program, l);
        }
        std::process::exit(1);
    }
}

/// The directories that `alternate_config_directories` and `multi_instance_directories`
/// name in main.cf text, as written (no `$name` expansion, as Postfix reads them here).
fn listed_dirs(text: &str) -> impl Iterator<Item = String> + '_ {
    logical_lines(text)
        .into_iter()
        .filter_map(|line| {
            let (name, value) = line.split_once('=')?;
            DIRECTORY_LISTS
                .contains(&name.trim())
                .then(|| value.to_string())
        })
        .flat_map(|v| {
            v.split([',', ' ', '\t', '\r', '\n'])
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
}

/// main.cf lines with continuations joined, without comments and blank lines.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.lines() {
        let t = raw.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match out.last_mut() {
            Some(last) if raw.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(t);
            }
            _ => out.push(t.to_string()),
        }
    }
    out
}

/// Attributes a local submission may carry; everything else is dropped by `stamp`.
const SUBMITTER_ATTRS: &[&str] = &[
    "ret",
    // The sender as submitted, before sendmail qualified it (pickup logs it).
    crate::sendmail::SENDER_GIVEN_ATTR,
    "envid",
    "full_name",
    "verify",
    "helo_name",
    "protocol_name",
    RECEIVED_ATTR.0,
];

/// Stamp an envelope as postdrop does: only the attributes a submitter may set, the arrival
/// time now, `uid=<real uid>`, the local rewriting context, nothing marked done or warned.
pub fn stamp(env: &mut Envelope) {
    env.attrs
        .retain(|(n, _)| SUBMITTER_ATTRS.contains(&n.as_str()));
    env.set_attr("uid", &crate::sys::uid().to_string());
    env.set_attr("rewrite_context", "local");
    env.arrival = std::time::SystemTime::now();
    env.delay_warned = false;
    for r in env.recipients.iter_mut() {
        r.done = false;
    }
}

/// Check what an untrusted submitter put in the envelope: addresses and DSN values without
/// control characters (they would end up in SMTP commands and log lines), NOTIFY and RET
/// with their RFC 3461 values only.
pub fn validate(env: &Envelope) -> Result<(), String> {
    let clean = |what: &str, v: &str| -> Result<(), String> {
        if v.chars().any(|c| c.is_control()) {
            return Err(format!("malformed input: control character in {}", what));
        }
        Ok(())
    };
    clean("sender", &env.sender)?;
    if let Some(given) = env.attr(crate::sendmail::SENDER_GIVEN_ATTR) {
        clean("sender", given)?;
    }
    for r in &env.recipients {
        clean("recipient", &r.address)?;
        if let Some(o) = &r.orig {
            clean("recipient", o)?;
        }
        if let Some(q) = &r.orcpt {
            clean("ORCPT", q)?;
        }
        if let Some(n) = &r.notify {
            let ok = n.eq_ignore_ascii_case("NEVER")
                || n.split(',').all(|w| {
                    ["SUCCESS", "FAILURE", "DELAY"]
                        .iter()
                        .any(|k| w.eq_ignore_ascii_case(k))
                });
            if !ok {
                return Err(format!("malformed input: bad NOTIFY value {:?}", n));
            }
        }
    }
    if let Some(r) = env.attr("ret")
        && !r.eq_ignore_ascii_case("FULL")
        && !r.eq_ignore_ascii_case("HDRS")
    {
        return Err(format!("malformed input: bad RET value {:?}", r));
    }
    for (n, v) in &env.attrs {
        clean(n, v)?;
    }
    Ok(())
}

/// Write a message into maildrop/ (postdrop's work). `env.attrs` gets `uid=<real uid>`.
pub fn drop_message(queue: &Queue, mut env: Envelope, content: &[u8]) -> io::Result<String> {
    stamp(&mut env);
    let w = queue.create(QueueName::Maildrop)?;
    let id = w.commit(&mut env, content)?;
    crate::pickup::poke(queue);
    Ok(id)
}

/// Read a queue file from `input`, check it, and drop it (the postdrop program).
pub fn postdrop(queue: &Queue, input: &mut dyn Read) -> Result<String, String> {
    let mut data = Vec::new();
    input
        .read_to_end(&mut data)
        .map_err(|e| format!("read input: {}", e))?;
    let (mut env, off, len) = file::decode(&data).map_err(|e| format!("malformed input: {}", e))?;
    let content = &data[off as usize..(off + len) as usize];
    if env.recipients.is_empty() {
        return Err("no recipients specified".into());
    }
    validate(&env)?;
    // Only `postdrop -r` (the stand-alone smtpd of `sendmail -bs`) may say that the message
    // already has its Received: header; plain submissions always get pickup's.
    env.attrs.retain(|(n, _)| n != RECEIVED_ATTR.0);
    drop_message(queue, env, content).map_err(|e| format!("create maildrop file: {}", e))
}

/// `postdrop -r` (for `sendmail -bs`): create the maildrop file first and print its ID on
/// `output` (one line, flushed), then read the queue file from `input` and commit it. The
/// ID goes into smtpd's Received: header before the message arrives. Input that ends
/// without a complete queue file (an abandoned session) leaves nothing behind.
pub fn postdrop_streamed(
    queue: &Queue,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> Result<String, String> {
    let w = queue
        .create(QueueName::Maildrop)
        .map_err(|e| format!("create maildrop file: {}", e))?;
    let id = w.id().to_string();
    writeln!(output, "{}", id)
        .and_then(|_| output.flush())
        .map_err(|e| format!("write queue ID: {}", e))?;
    let mut data = Vec::new();
    input
        .read_to_end(&mut data)
        .map_err(|e| format!("read input: {}", e))?;
    if data.is_empty() {
        return Err("no message: submission abandoned".into());
    }
    let (mut env, off, len) = file::decode(&data).map_err(|e| format!("malformed input: {}", e))?;
    if env.recipients.is_empty() {
        return Err("no recipients specified".into());
    }
    validate(&env)?;
    stamp(&mut env);
    env.set_attr(RECEIVED_ATTR.0, RECEIVED_ATTR.1);
    let content = &data[off as usize..(off + len) as usize];
    w.commit(&mut env, content)
        .map_err(|e| format!("write maildrop file: {}", e))?;
    crate::pickup::poke(queue);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Recipient;

    fn default_dir(name: &str, main_cf: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("postern-postdrop-{}-{}", name, std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("main.cf"), main_cf).unwrap();
        d
    }

    #[test]
    fn another_config_directory_must_be_listed_in_the_default_main_cf() {
        let def = default_dir(
            "listed",
            "# alternate_config_directories = /etc/commented\nalternate_config_directories = /etc/a,\n  /etc/b\nmulti_instance_directories = /etc/m\n",
        );
        for ok in ["/etc/a", "/etc/b", "/etc/m"] {
            assert_eq!(
                check_config_dir(Path::new(ok), &def, false),
                Ok(()),
                "{}",
                ok
            );
        }
        assert_eq!(
            check_config_dir(&def, &def, false),
            Ok(()),
            "the default itself"
        );
        assert_eq!(
            check_config_dir(Path::new("/etc/x"), &def, true),
            Ok(()),
            "root"
        );
        let err = check_config_dir(Path::new("/etc/commented"), &def, false).unwrap_err();
        assert_eq!(
            err,
            [
                "error: unauthorized configuration directory name: /etc/commented".to_string(),
                format!(
                    "fatal: specify \"alternate_config_directories = /etc/commented\" or \"multi_instance_directories = /etc/commented\" in {}/main.cf",
                    def.display()
                ),
            ]
        );
        // Compared as written: another spelling of a listed directory is not listed.
        assert!(check_config_dir(Path::new("/etc/a/"), &def, false).is_err());
    }

    #[test]
    fn a_missing_default_main_cf_refuses_another_directory() {
        let def = std::env::temp_dir().join("postern-postdrop-no-such-dir");
        let err = check_config_dir(Path::new("/etc/x"), &def, false).unwrap_err();
        assert!(err[0].starts_with("fatal: open file "), "{:?}", err);
    }

    #[test]
    fn untrusted_envelopes_are_checked_and_stamped() {
        let mut env = Envelope::new("a@b.test");
        env.recipients.push(Recipient::new("c@d.test"));
        assert!(validate(&env).is_ok());
        let mut bad = env.clone();
        bad.recipients[0].address = "c@d.test>\r\nRCPT TO:<x@y.test".into();
        assert!(validate(&bad).unwrap_err().contains("control character"));
        let mut bad = env.clone();
        bad.recipients[0].notify = Some("SUCCESS,BOGUS".into());
        assert!(validate(&bad).is_err());
        let mut bad = env.clone();
        bad.set_attr("ret", "ALL");
        assert!(validate(&bad).is_err());

        let mut forged = env.clone();
        forged.set_attr("client_address", "192.0.2.1");
        // A forged address verification probe would write the cache.
        forged.set_attr(crate::verify::probe::PROBE_ATTR, "victim@d.test");
        forged.set_attr("verify", "1");
        forged.set_attr("ret", "HDRS");
        forged.arrival = std::time::UNIX_EPOCH;
        forged.delay_warned = true;
        forged.recipients[0].done = true;
        stamp(&mut forged);
        assert_eq!(forged.attr("client_address"), None);
        assert_eq!(crate::verify::probe::probed(&forged), None);
        assert_eq!(forged.attr("verify"), Some("1"), "sendmail -bv stays");
        assert_eq!(forged.attr("ret"), Some("HDRS"));
        assert!(
            forged.arrival > std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000)
        );
        assert!(!forged.delay_warned && !forged.recipients[0].done);
    }
}
