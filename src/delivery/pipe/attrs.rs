//! The command-line attributes of a pipe(8) master.cf entry: `flags=`, `user=NAME[:GROUP]`,
//! `directory=`, `eol=`, `null_sender=`, `size=`, and `argv=` (everything after it is the
//! command), as Postfix 2.10's pipe(8) documents them. `chroot=` is refused (Postern does
//! not chroot).
//!
//! Security role: the trust decision for the command's ids: `user=` is required and may
//! name neither root (uid or gid 0) nor $mail_owner (its uid or gid) nor $setgid_group's
//! gid, as Postfix refuses them; except that when Postern does not run as root (there is
//! then only one account, $mail_owner itself) `user=` may name the running user. The root helper parses the same entry from master.cf
//! itself (`check_request`) before it runs anything, so a request forged by $mail_owner
//! gets only the program and ids the entry names. Logs nothing.

use std::fmt;

use crate::config::Config;
use crate::delivery::command::CommandJob;
use crate::sys;

/// The `flags=` letters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// B: a blank line at the end of the message.
    pub blank: bool,
    /// D: a `Delivered-To: recipient` header.
    pub delivered_to: bool,
    /// F: a `From sender time_stamp` envelope line.
    pub from_line: bool,
    /// O: an `X-Original-To: original recipient` header.
    pub original_to: bool,
    /// R: a `Return-Path: <sender>` header.
    pub return_path: bool,
    /// X: final delivery (the DSN action is "delivered", not "relayed").
    pub final_delivery: bool,
    /// `.`: a dot before each line that starts with a dot.
    pub dot: bool,
    /// `>`: a `>` before each line that starts with `From `.
    pub quote_from: bool,
    /// h: fold $nexthop and the recipient domains to lower case.
    pub fold_host: bool,
    /// q: quote the local parts of $sender and $recipient as RFC 822 requires.
    pub quote_local: bool,
    /// u: fold the recipient local parts to lower case.
    pub fold_user: bool,
}

impl Flags {
    fn parse(s: &str) -> Result<Flags, AttrError> {
        let mut f = Flags::default();
        for c in s.chars() {
            match c {
                'B' => f.blank = true,
                'D' => f.delivered_to = true,
                'F' => f.from_line = true,
                'O' => f.original_to = true,
                'R' => f.return_path = true,
                'X' => f.final_delivery = true,
                '.' => f.dot = true,
                '>' => f.quote_from = true,
                'h' => f.fold_host = true,
                'q' => f.quote_local = true,
                'u' => f.fold_user = true,
                other => return Err(AttrError(format!("unknown flag: {}", other))),
            }
        }
        Ok(f)
    }
}

/// A pipe(8) entry's attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Attrs {
    pub flags: Flags,
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub directory: Option<String>,
    pub eol: Vec<u8>,
    pub null_sender: String,
    /// 0: no limit.
    pub size_limit: u64,
    /// The command template, macros unexpanded.
    pub argv: Vec<String>,
}

/// A bad attribute list (Postfix's pipe(8) would exit with a fatal error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrError(pub String);

impl fmt::Display for AttrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `\n`, `\r`, `\t`, `\\` and octal escapes of `eol=`, as Postfix's unescape().
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = b[i];
        i += 1;
        match c {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                while i < b.len() && (b'0'..=b'7').contains(&b[i]) && v < 32 {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    out
}

fn attr<'a>(arg: &'a str, name: &str) -> Option<&'a str> {
    let head = arg.get(..name.len())?;
    head.eq_ignore_ascii_case(name).then(|| &arg[name.len()..])
}

/// Parse the attributes of an entry (`args`: what follows `pipe` in master.cf) with the
/// accounts of `cfg` ($mail_owner, $setgid_group) refused as `user=`. `single_user`: Postern
/// runs without root (no privileged helper), so `user=` may be the running user.
pub fn parse(args: &[String], cfg: &Config, single_user: bool) -> Result<Attrs, AttrError> {
    let bad = |s: String| Err(AttrError(s));
    let mut flags = Flags::default();
    let mut user: Option<(String, Option<String>)> = None;
    let (mut directory, mut eol, mut size_limit) = (None, b"\n".to_vec(), 0u64);
    let mut null_sender = "MAILER-DAEMON".to_string();
    let mut argv = None;
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = attr(a, "flags=") {
            flags = Flags::parse(v)?;
        } else if let Some(v) = attr(a, "user=") {
            user = Some(match v.split_once(':') {
                Some((u, g)) if !g.is_empty() => (u.to_string(), Some(g.to_string())),
                Some((u, _)) => (u.to_string(), None),
                None => (v.to_string(), None),
            });
        } else if let Some(v) = attr(a, "directory=") {
            directory = Some(v.to_string());
        } else if let Some(v) = attr(a, "eol=") {
            eol = unescape(v);
        } else if let Some(v) = attr(a, "null_sender=") {
            null_sender = v.to_string();
        } else if let Some(v) = attr(a, "size=") {
            size_limit = match v.parse() {
                Ok(n) => n,
                Err(_) => return bad(format!("bad size= value: {}", v)),
            };
        } else if attr(a, "chroot=").is_some() {
            return bad("chroot= is not supported by Postern".into());
        } else if let Some(v) = attr(a, "argv=") {
            let mut cmd = vec![v.to_string()];
            cmd.extend(args[i + 1..].iter().cloned());
            argv = Some(cmd);
            break;
        } else {
            return bad(format!("unknown attribute name: {}", a));
        }
    }
    let Some((name, group)) = user else {
        return bad("missing user= command-line attribute".into());
    };
    let argv = match argv {
        Some(a) if !a[0].is_empty() => a,
        _ => return bad("missing argv= command-line attribute".into()),
    };
    let (uid, gid) = ids(&name, group.as_deref(), cfg, single_user)?;
    Ok(Attrs {
        flags,
        user: name,
        uid,
        gid,
        directory,
        eol,
        null_sender,
        size_limit,
        argv,
    })
}

/// The ids of `user=NAME[:GROUP]`, refusing root and the mail system's own accounts.
fn ids(
    name: &str,
    group: Option<&str>,
    cfg: &Config,
    single_user: bool,
) -> Result<(u32, u32), AttrError> {
    let lookup = |e: std::io::Error| AttrError(format!("lookup of user {}: {}", name, e));
    let acct = sys::user_by_name(name)
        .map_err(lookup)?
        .ok_or_else(|| AttrError(format!("unknown username: {}", name)))?;
    let gid = match group {
        Some(g) => sys::group_by_name(g)
            .map_err(|e| AttrError(format!("lookup of group {}: {}", g, e)))?
            .ok_or_else(|| AttrError(format!("unknown group: {}", g)))?,
        None => acct.gid,
    };
    let owner = cfg.get("mail_owner");
    let owner_ids = sys::user_by_name(owner)
        .ok()
        .flatten()
        .map(|u| (u.uid, u.gid));
    let sgid = sys::group_by_name(cfg.get("setgid_group")).ok().flatten();
    if acct.uid == 0 {
        return Err(AttrError(
            "user= command-line attribute specifies root privileges".into(),
        ));
    }
    // Without root there is no privilege separation to protect: Postern runs as one user,
    // which is $mail_owner, and can run commands only as itself.
    if single_user && acct.uid == sys::euid() {
        return Ok((acct.uid, gid));
    }
    if owner_ids.is_some_and(|(u, _)| u == acct.uid) {
        return Err(AttrError(format!(
            "user= command-line attribute specifies mail system owner {}",
            owner
        )));
    }
    if gid == 0 {
        return Err(AttrError(
            "user= command-line attribute specifies privileged group id 0".into(),
        ));
    }
    if owner_ids.is_some_and(|(_, g)| g == gid) {
        return Err(AttrError(format!(
            "user= command-line attribute specifies mail system owner {} group id {}",
            owner, gid
        )));
    }
    if sgid == Some(gid) {
        return Err(AttrError(format!(
            "user= command-line attribute specifies mail system {} group id {}",
            cfg.get("setgid_group"),
            gid
        )));
    }
    Ok((acct.uid, gid))
}

/// The root helper's check of a pipe request (`request::Source::Pipe`): master.cf in
/// $config_directory has a `unix` entry `service` running `pipe`, whose attributes name
/// exactly these ids and this program (`argv[0]`); the working directory is the entry's
/// (or $queue_directory) and the environment holds only PATH (`command::DEFAULT_PATH`)
/// and $export_environment names, so that a forged request cannot add LD_PRELOAD and the like.
pub fn check_request(
    service: &str,
    job: &CommandJob,
    ids: (u32, u32),
    cfg: &Config,
) -> Result<(), AttrError> {
    let argv = &job.argv;
    let path = cfg.dir().join("master.cf");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| AttrError(format!("read {}: {}", path.display(), e)))?;
    let services = crate::config::master_cf::parse(&text, &path.display().to_string())
        .map_err(|e| AttrError(e.to_string()))?;
    let svc = services
        .iter()
        .find(|s| s.name == service && s.kind == "unix" && s.command == "pipe")
        .ok_or_else(|| AttrError(format!("master.cf has no pipe service {}", service)))?;
    let a = parse(&svc.args, cfg, false)?;
    if (a.uid, a.gid) != ids {
        return Err(AttrError(format!(
            "ids {}:{} are not those of {}'s user={}",
            ids.0, ids.1, service, a.user
        )));
    }
    if argv.first() != a.argv.first() {
        return Err(AttrError(format!(
            "command is not {}'s program {}",
            service, a.argv[0]
        )));
    }
    let dir = a
        .directory
        .clone()
        .unwrap_or_else(|| cfg.get("queue_directory").to_string());
    if job.dir != std::path::Path::new(&dir) {
        return Err(AttrError(format!(
            "working directory {} is not {}'s {}",
            job.dir.display(),
            service,
            dir
        )));
    }
    crate::delivery::command::check_env(&job.env, &[], &cfg.list("export_environment"))
        .map_err(|name| AttrError(format!("environment variable {} refused", name)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn cfg() -> Config {
        Config::from_pairs(
            Path::new("/nonexistent"),
            &[("mail_owner", "daemon"), ("setgid_group", "no-such-group")],
        )
    }

    #[test]
    fn walkthrough_entry() {
        let a = parse(
            &args("flags=DRhu user=nobody argv=maildrop -d ${recipient}"),
            &cfg(),
            false,
        )
        .unwrap();
        assert!(a.flags.delivered_to && a.flags.return_path && a.flags.fold_host);
        assert!(a.flags.fold_user && !a.flags.dot);
        assert_eq!(a.argv, ["maildrop", "-d", "${recipient}"]);
        assert_eq!(a.user, "nobody");
        assert_eq!((a.eol.as_slice(), a.size_limit), (&b"\n"[..], 0));
    }

    #[test]
    fn other_attributes() {
        let a = parse(
            &args("flags=. size=1000 eol=\\r\\n directory=/tmp null_sender= user=nobody argv=/bin/cat"),
            &cfg(),
            false,
        )
        .unwrap();
        assert_eq!(a.eol, b"\r\n");
        assert_eq!(a.size_limit, 1000);
        assert_eq!(a.directory.as_deref(), Some("/tmp"));
        assert_eq!(a.null_sender, "");
        assert_eq!(unescape("a\\101\\tb"), b"aA\tb");
    }

    #[test]
    fn the_helper_checks_requests_against_master_cf() {
        let dir = std::env::temp_dir().join(format!("postern-pipe-attrs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("master.cf"),
            "filter unix - n n - - pipe user=nobody argv=/usr/bin/filter ${recipient}\n\
             other unix - n n - - smtp\n",
        )
        .unwrap();
        let cfg = Config::from_pairs(
            &dir,
            &[("mail_owner", "daemon"), ("setgid_group", "no-such-group")],
        );
        let nobody = sys::user_by_name("nobody").unwrap().unwrap();
        let ids = (nobody.uid, nobody.gid);
        let argv = |p: &str| CommandJob {
            command: p.to_string(),
            argv: vec![p.to_string(), "a@b".to_string()],
            shell: String::new(),
            dir_required: false,
            env: vec![
                ("PATH".into(), crate::delivery::command::DEFAULT_PATH.into()),
                ("TZ".into(), "UTC".into()),
            ],
            dir: "/var/spool/postfix".into(),
            limit: std::time::Duration::from_secs(1),
            input: Vec::new(),
        };
        assert_eq!(
            check_request("filter", &argv("/usr/bin/filter"), ids, &cfg),
            Ok(())
        );
        let e = |r: Result<(), AttrError>| r.unwrap_err().0;
        let mut preload = argv("/usr/bin/filter");
        preload
            .env
            .push(("LD_PRELOAD".into(), "/tmp/evil.so".into()));
        assert!(e(check_request("filter", &preload, ids, &cfg)).contains("LD_PRELOAD"));
        let mut path = argv("/usr/bin/filter");
        path.env[0].1 = "/tmp:/usr/bin".into();
        assert!(e(check_request("filter", &path, ids, &cfg)).contains("PATH"));
        let mut moved = argv("/usr/bin/filter");
        moved.dir = "/tmp".into();
        assert!(e(check_request("filter", &moved, ids, &cfg)).contains("working directory"));
        assert!(e(check_request("filter", &argv("/bin/sh"), ids, &cfg)).contains("program"));
        assert!(
            e(check_request(
                "filter",
                &argv("/usr/bin/filter"),
                (1, 1),
                &cfg
            ))
            .contains("ids 1:1")
        );
        assert!(
            e(check_request("other", &argv("/usr/bin/filter"), ids, &cfg))
                .contains("no pipe service")
        );
        assert!(
            e(check_request("nope", &argv("/usr/bin/filter"), ids, &cfg))
                .contains("no pipe service")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refused_entries() {
        let e = |s: &str| parse(&args(s), &cfg(), false).unwrap_err().0;
        assert_eq!(e("argv=/bin/cat"), "missing user= command-line attribute");
        assert_eq!(e("user=nobody"), "missing argv= command-line attribute");
        assert_eq!(
            e("user=root argv=/bin/cat"),
            "user= command-line attribute specifies root privileges"
        );
        assert_eq!(
            e("user=daemon argv=/bin/cat"),
            "user= command-line attribute specifies mail system owner daemon"
        );
        assert_eq!(e("flags=Z user=nobody argv=x"), "unknown flag: Z");
        assert_eq!(
            e("bogus=1 user=nobody argv=x"),
            "unknown attribute name: bogus=1"
        );
        assert!(e("user=no-such-user-here argv=x").starts_with("unknown username"));
        assert!(e("chroot=/x user=nobody argv=x").contains("not supported"));
    }
}
