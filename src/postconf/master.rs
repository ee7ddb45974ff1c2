//! Printing master.cf: `postconf -M` (entries), `-F` (fields, `service/type/field = value`)
//! and `-P` (`-o` parameters, `service/type/parameter = value`).
//!
//! Entries are normalised as Postfix prints them: one line per service, the first seven
//! fields padded into columns, then the command, its arguments and the `-o name=value`
//! options in file order. With `-f` the arguments start on an indented line, each `-o` on its
//! own, and long lines wrap at 80 columns. Field values are printed as written (`-` stays
//! `-`); `-x` expands `$name` with main.cf's values. Selectors are `service`,
//! `service/type` and `service/type/name`, where `*` or a missing part matches anything.

use std::io::Write;

use super::{Mode, Options, PostconfError};
use crate::config::master_cf::{self, MasterCfError};

/// The field names of `-F`, in master.cf order.
pub const FIELDS: &[&str] = &[
    "service",
    "type",
    "private",
    "unprivileged",
    "chroot",
    "wakeup",
    "process_limit",
    "command",
];

/// One argument after the command: a word, or a `-o name=value` option.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Word(String),
    Opt(String, String),
}

/// A master.cf entry as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// service, type, private, unprivileged, chroot, wakeup, maxproc, command.
    pub fields: Vec<String>,
    pub args: Vec<Arg>,
}

impl Entry {
    pub fn service(&self) -> &str {
        &self.fields[0]
    }

    pub fn kind(&self) -> &str {
        &self.fields[1]
    }

    /// The `command` field of `-F`: the command and its arguments without `-o` options.
    pub fn command_line(&self) -> String {
        let mut s = self.fields[7].clone();
        for a in &self.args {
            if let Arg::Word(w) = a {
                s.push(' ');
                s.push_str(w);
            }
        }
        s
    }

    /// The `-M` line; folded with `fold`.
    pub fn render(&self, fold: bool) -> String {
        let f = &self.fields;
        let mut line = format!(
            "{:<10} {:<5} {:<7} {:<7} {:<7} {:<7} {:<7} {}",
            f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]
        );
        let mut col = line.len();
        for (i, a) in self.args.iter().enumerate() {
            let (text, is_opt) = match a {
                Arg::Word(w) => (w.clone(), false),
                Arg::Opt(n, v) => (format!("-o {}={}", n, v), true),
            };
            if fold && (i == 0 || is_opt || col + 1 + text.len() > 80) {
                line.push_str("\n    ");
                col = 4;
            } else {
                line.push(' ');
                col += 1;
            }
            line.push_str(&text);
            col += text.len();
        }
        line
    }
}

/// Parse master.cf into entries as written. The text is first checked with the server's
/// own parser, so postconf rejects exactly what `postfix start` would.
pub fn entries(text: &str, file: &str) -> Result<Vec<Entry>, MasterCfError> {
    master_cf::parse(text, file)?;
    let mut out = Vec::new();
    for (line, _) in master_cf::logical_lines(text, file)? {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let fields: Vec<String> = tokens[..8].iter().map(|s| s.to_string()).collect();
        let mut args = Vec::new();
        let mut rest = tokens[8..].iter();
        while let Some(t) = rest.next() {
            let kv = if *t == "-o" {
                rest.next().copied()
            } else {
                t.strip_prefix("-o")
            };
            match kv {
                Some(kv) if t.starts_with("-o") => {
                    // `parse` above has checked the `=`.
                    let (n, v) = kv.split_once('=').unwrap_or((kv, ""));
                    args.push(Arg::Opt(n.trim().to_string(), v.trim().to_string()));
                }
                _ => args.push(Arg::Word(t.to_string())),
            }
        }
        out.push(Entry { fields, args });
    }
    Ok(out)
}

/// A `service[/type[/name]]` selector; missing parts and `*` match anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    parts: Vec<String>,
}

impl Selector {
    pub fn parse(s: &str, max_parts: usize) -> Result<Selector, PostconfError> {
        let parts: Vec<String> = s.splitn(max_parts, '/').map(str::to_string).collect();
        if parts.iter().any(String::is_empty) {
            return Err(PostconfError::BadArgument(format!(
                "invalid service or parameter selector: \"{}\"",
                s
            )));
        }
        Ok(Selector { parts })
    }

    fn part_matches(&self, idx: usize, value: &str) -> bool {
        match self.parts.get(idx) {
            None => true,
            Some(p) => p == "*" || p == value,
        }
    }

    fn entry_matches(&self, e: &Entry) -> bool {
        self.part_matches(0, e.service()) && self.part_matches(1, e.kind())
    }
}

/// `postconf -M` / `-F` / `-P`.
pub fn show(opts: &Options, out: &mut dyn Write) -> Result<(), PostconfError> {
    let path = opts.config_dir.join("master.cf");
    let text = std::fs::read_to_string(&path).map_err(|err| PostconfError::MasterIo {
        path: path.clone(),
        err,
    })?;
    let entries = entries(&text, &path.display().to_string()).map_err(PostconfError::Master)?;
    let expander = if opts.expand {
        let cfg = crate::config::Config::load(&opts.config_dir).map_err(PostconfError::Config)?;
        Some(cfg.with_overrides(&opts.overrides))
    } else {
        None
    };
    let expand = |v: &str| -> String {
        match &expander {
            Some(cfg) => crate::config::parse::expand(v, &|n| {
                if cfg.has(n) {
                    Some(cfg.get(n).to_string())
                } else {
                    None
                }
            }),
            None => v.to_string(),
        }
    };
    let max_parts = if opts.mode == Mode::MasterEntries {
        2
    } else {
        3
    };
    let selectors = opts
        .args
        .iter()
        .map(|a| Selector::parse(a, max_parts))
        .collect::<Result<Vec<_>, _>>()?;
    let selected = |e: &Entry| selectors.is_empty() || selectors.iter().any(|s| s.entry_matches(e));
    let name_selected = |e: &Entry, name: &str| {
        selectors.is_empty()
            || selectors
                .iter()
                .any(|s| s.entry_matches(e) && s.part_matches(2, name))
    };
    let mut lines = Vec::new();
    for e in entries.iter() {
        match opts.mode {
            Mode::MasterEntries => {
                if selected(e) {
                    let mut e = e.clone();
                    if opts.expand {
                        for f in e.fields.iter_mut() {
                            *f = expand(f);
                        }
                        for a in e.args.iter_mut() {
                            match a {
                                Arg::Word(w) => *w = expand(w),
                                Arg::Opt(_, v) => *v = expand(v),
                            }
                        }
                    }
                    lines.push(e.render(opts.fold));
                }
            }
            Mode::MasterFields => {
                for (i, field) in FIELDS.iter().enumerate() {
                    if !name_selected(e, field) {
                        continue;
                    }
                    let value = if i == 7 {
                        e.command_line()
                    } else {
                        e.fields[i].clone()
                    };
                    let name = format!("{}/{}/{}", e.service(), e.kind(), field);
                    lines.push(super::show::format_line(&name, &expand(&value), opts));
                }
            }
            _ => {
                for a in &e.args {
                    if let Arg::Opt(n, v) = a
                        && name_selected(e, n)
                    {
                        let name = format!("{}/{}/{}", e.service(), e.kind(), n);
                        lines.push(super::show::format_line(&name, &expand(v), opts));
                    }
                }
            }
        }
    }
    for l in lines {
        if writeln!(out, "{}", l).is_err() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "\
# comment
smtp      inet  n       -       n       -       -       smtpd
submission inet n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
pickup    unix  n       -       n       60      1       pickup
maildrop  unix  -       n       n       -       -       pipe
  flags=DRhu user=vmail argv=/usr/local/bin/maildrop -d ${recipient}
";

    #[test]
    fn entries_keep_fields_as_written() {
        let e = entries(MASTER, "master.cf").unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(
            e[0].render(false),
            "smtp       inet  n       -       n       -       -       smtpd"
        );
        assert_eq!(
            e[1].render(false),
            "submission inet  n       -       n       -       -       smtpd -o syslog_name=postfix/submission -o smtpd_sasl_auth_enable=yes"
        );
        assert_eq!(
            e[1].render(true),
            "submission inet  n       -       n       -       -       smtpd\n    -o syslog_name=postfix/submission\n    -o smtpd_sasl_auth_enable=yes"
        );
        assert_eq!(
            e[3].render(true),
            "maildrop   unix  -       n       n       -       -       pipe\n    flags=DRhu user=vmail argv=/usr/local/bin/maildrop -d ${recipient}"
        );
        assert_eq!(
            e[3].command_line(),
            "pipe flags=DRhu user=vmail argv=/usr/local/bin/maildrop -d ${recipient}"
        );
    }

    #[test]
    fn bad_master_cf_is_an_error() {
        assert!(entries("smtp inet n - n -\n", "master.cf").is_err());
    }

    #[test]
    fn selectors() {
        let e = entries(MASTER, "master.cf").unwrap();
        let s = Selector::parse("smtp", 2).unwrap();
        assert!(s.entry_matches(&e[0]));
        assert!(!s.entry_matches(&e[1]));
        let s = Selector::parse("*/unix", 2).unwrap();
        assert!(s.entry_matches(&e[2]) && !s.entry_matches(&e[0]));
        let s = Selector::parse("submission/inet/syslog_name", 3).unwrap();
        assert!(s.part_matches(2, "syslog_name") && !s.part_matches(2, "x"));
        assert!(Selector::parse("smtp//x", 3).is_err());
    }
}
