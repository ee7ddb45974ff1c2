//! The rule for parameters Postern knows but does not implement: a setting other than the
//! default gets `warning: NAME is not supported by Postern; ignored`, and one whose being
//! ignored would weaken security or lose mail (`params::Support::FatalIfSet`) is refused
//! with `fatal: NAME = VALUE is not supported by Postern: WHY`. One judgement for main.cf
//! settings and for master.cf `-o` overrides; `crate::master` logs the findings for
//! `postfix check`, `postfix start` and the master itself, and refuses to start on a fatal.
//!
//! Security role: keeps an admin from believing a filter, milter, restriction or transport
//! is in force when Postern ignores it. Reads only the trusted configuration.
//!
//! Tests here also walk the table: an implemented parameter must be read in the source,
//! one that is not must not be, and the README's lists of refused and warned-about
//! parameters must be the table's.

use std::fmt;

use super::Config;
use super::params::Support;

/// What the rule says about one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Ignored, with a warning.
    Warn { name: String },
    /// Refused: Postern must not start.
    Fatal {
        name: String,
        value: String,
        why: &'static str,
    },
}

impl Finding {
    pub fn is_fatal(&self) -> bool {
        matches!(self, Finding::Fatal { .. })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Warn { name } => write!(f, "{} is not supported by Postern; ignored", name),
            Finding::Fatal { name, value, why } => write!(
                f,
                "{} = {} is not supported by Postern: {}",
                name, value, why
            ),
        }
    }
}

/// Whether two values say the same: the same list items, yes/no words in any case.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (super::split_list(a), super::split_list(b));
    let word = |s: &[String]| {
        s.len() == 1
            && ["yes", "no", "true", "false"]
                .iter()
                .any(|w| s[0].eq_ignore_ascii_case(w))
    };
    if word(&a) && word(&b) {
        a[0].eq_ignore_ascii_case(&b[0])
    } else {
        a == b
    }
}

/// The rule for parameter `name` set to `value` (expanded) where its default expands to
/// `default`; `None` for unknown or implemented parameters and for default values.
pub fn judge(name: &str, value: &str, default: &str) -> Option<Finding> {
    let param = super::known(name)?;
    match param.support {
        Support::Implemented | Support::NoEffect => None,
        _ if same(value, default) => None,
        Support::WarnIfSet { acts_as } => match acts_as {
            Some(v) if same(value, v) => None,
            _ => Some(Finding::Warn { name: name.into() }),
        },
        Support::FatalIfSet { why } => Some(Finding::Fatal {
            name: name.into(),
            value: value.trim().to_string(),
            why,
        }),
    }
}

/// A parameter's default, expanded with the values of `cfg`.
fn default_in(cfg: &Config, name: &str) -> String {
    let d = cfg.default_of(name).unwrap_or("");
    super::parse::expand(d, &|x| cfg.has(x).then(|| cfg.get(x).to_string()))
}

/// The findings for the settings written in main.cf (in name order).
pub fn main_cf(cfg: &Config) -> Vec<Finding> {
    cfg.explicit()
        .iter()
        .filter_map(|(name, _)| {
            malformed_level(name, cfg.get(name))
                .or_else(|| judge(name, cfg.get(name), &default_in(cfg, name)))
        })
        .collect()
}

/// A `compatibility_level` that is not a level: refused, as Postfix 3 refuses it (counting
/// it as 0 would silently widen the relay defaults the admin asked to narrow).
fn malformed_level(name: &str, value: &str) -> Option<Finding> {
    (name == "compatibility_level" && super::compat::Level::parse(value).is_none()).then(|| {
        Finding::Fatal {
            name: name.into(),
            value: value.trim().to_string(),
            why: "not a compatibility level (a number such as 2 or 3.6)",
        }
    })
}

/// The findings for master.cf `-o name=value` overrides on top of main.cf `cfg`.
pub fn overrides(cfg: &Config, overrides: &[(String, String)]) -> Vec<Finding> {
    let svc = cfg.with_overrides(overrides);
    overrides
        .iter()
        .filter_map(|(name, _)| judge(name, svc.get(name), &default_in(&svc, name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs(Path::new("/etc/postfix"), pairs)
    }

    #[test]
    fn a_malformed_compatibility_level_is_refused() {
        assert!(main_cf(&cfg(&[("compatibility_level", "3.6")])).is_empty());
        let f = main_cf(&cfg(&[("compatibility_level", "three")]));
        assert!(f.len() == 1 && f[0].is_fatal(), "{f:?}");
    }

    #[test]
    fn defaults_and_implemented_settings_say_nothing() {
        let c = cfg(&[
            ("content_filter", ""),
            ("biff", "no"),
            ("append_dot_mydomain", "NO"),
            ("smtputf8_enable", "no"),
            ("meta_directory", "/somewhere"),
            ("myhostname", "mx.example.org"),
            ("bogus_thing", "1"),
        ]);
        assert_eq!(main_cf(&c), vec![]);
    }

    #[test]
    fn a_set_unimplemented_parameter_warns_and_a_dangerous_one_is_fatal() {
        let c = cfg(&[
            ("tls_random_source", "dev:/dev/random"),
            ("smtpd_milters", "inet:127.0.0.1:8891"),
            ("biff", "yes"),
        ]);
        let f = main_cf(&c);
        assert_eq!(f.len(), 2, "{:?}", f);
        assert_eq!(
            f[0].to_string(),
            "smtpd_milters = inet:127.0.0.1:8891 is not supported by Postern: mail would bypass the milters"
        );
        assert!(f[0].is_fatal());
        assert_eq!(
            f[1].to_string(),
            "tls_random_source is not supported by Postern; ignored"
        );
    }

    #[test]
    fn overrides_are_judged_on_top_of_main_cf() {
        let c = cfg(&[("smtpd_milters", "inet:localhost:8891")]);
        let o = |n: &str, v: &str| vec![(n.to_string(), v.to_string())];
        // Emptying a refused setting for one service is what Postern does anyway.
        assert_eq!(overrides(&c, &o("smtpd_milters", "")), vec![]);
        assert!(overrides(&c, &o("smtpd_milters", "inet:x:1"))[0].is_fatal());
        assert_eq!(overrides(&c, &o("content_filter", "x:y")), vec![]);
        assert_eq!(overrides(&c, &o("smtp_fallback_relay", "")), vec![]);
        assert_eq!(
            overrides(&c, &o("milter_default_action", "accept")),
            vec![Finding::Warn {
                name: "milter_default_action".into()
            }]
        );
    }
}

#[cfg(test)]
mod readme {
    use crate::config::inventory::INVENTORY;
    use crate::config::params::{PARAMS, Param, Support};

    /// The backquoted names of the README paragraph that starts with `start`.
    fn listed(readme: &str, start: &str) -> Vec<String> {
        let at = readme.find(start).expect("the README lists the parameters");
        let para = readme[at..].split("\n\n").next().unwrap_or("");
        let mut names: Vec<String> = para
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    fn in_table(table: &[Param], pick: fn(&Support) -> bool) -> Vec<String> {
        let mut names: Vec<String> = table
            .iter()
            .filter(|p| pick(&p.support))
            .map(|p| p.name.to_string())
            .collect();
        names.sort();
        names
    }

    /// The README's lists of refused and warned-about parameters are the tables': every
    /// refused one by name, the warned-about ones of `params` by name and those of
    /// `inventory` by number.
    #[test]
    fn the_readme_lists_what_the_table_says() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let is_fatal = |s: &Support| matches!(s, Support::FatalIfSet { .. });
        let is_warn = |s: &Support| matches!(s, Support::WarnIfSet { .. });
        let mut fatal = in_table(PARAMS, is_fatal);
        fatal.extend(in_table(INVENTORY, is_fatal));
        fatal.sort();
        assert_eq!(listed(&readme, "Refused when set:"), fatal);
        assert_eq!(
            listed(&readme, "Warned about when set:"),
            in_table(PARAMS, is_warn)
        );
        let others = format!(
            "and the {} other Postfix 2.10 parameters of src/config/inventory.rs",
            in_table(INVENTORY, is_warn).len()
        );
        let flat = readme.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&others), "the README says: {}", others);
    }
}

/// Walking the parameter table (`params::PARAMS`) against the source.
#[cfg(test)]
mod table {
    use crate::config::params::tests::{names_read, rust_files};
    use crate::config::params::{PARAMS, Support};

    /// Implemented parameters whose names the source builds rather than writes out, with
    /// the file and the text that builds them.
    const BUILT_NAMES: &[(&str, &str, &str)] = &[
        (
            "default_destination_concurrency_limit",
            "qmgr/scheduler.rs",
            "\"default_destination_{}_limit\"",
        ),
        (
            "default_destination_recipient_limit",
            "qmgr/scheduler.rs",
            "\"default_destination_{}_limit\"",
        ),
        (
            "local_destination_concurrency_limit",
            "qmgr/scheduler.rs",
            "\"{}_destination_{}_limit\"",
        ),
        (
            "local_destination_recipient_limit",
            "qmgr/scheduler.rs",
            "\"{}_destination_{}_limit\"",
        ),
    ];

    /// Whether `name` occurs in `text` as a whole word.
    fn has_word(text: &str, name: &str) -> bool {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        text.match_indices(name).any(|(at, _)| {
            let before = text.as_bytes()[..at].last().copied();
            let after = text.as_bytes().get(at + name.len()).copied();
            !before.is_some_and(word) && !after.is_some_and(word)
        })
    }

    /// Walk the table: every entry is one of the kinds, with what that kind needs; an
    /// implemented parameter is read somewhere (quoted in the Rust source outside this
    /// file, installed by the Makefile, built by name, or the `$name` in the default of an
    /// implemented parameter), and one that is not implemented is not read as if it were.
    #[test]
    fn every_entry_is_implemented_or_handled_by_the_rule() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        let texts: Vec<(String, String)> = files
            .iter()
            .filter(|f| !f.ends_with("config/params.rs"))
            .map(|f| {
                let name = f.to_string_lossy().to_string();
                (name, std::fs::read_to_string(f).unwrap())
            })
            .collect();
        let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
        let mut unread = Vec::new();
        let mut read_but_not_implemented = Vec::new();
        for p in crate::config::all_params() {
            let quoted = format!("\"{}\"", p.name);
            let in_source = texts.iter().any(|(_, t)| t.contains(&quoted));
            match p.support {
                Support::Implemented => {
                    let built = BUILT_NAMES.iter().any(|(n, file, how)| {
                        *n == p.name
                            && texts
                                .iter()
                                .any(|(f, t)| f.ends_with(file) && t.contains(how))
                    });
                    let by_default = PARAMS.iter().any(|o| {
                        o.support == Support::Implemented
                            && (has_word(o.default, &format!("${}", p.name))
                                || o.default.contains(&format!("${{{}", p.name)))
                    });
                    if !(in_source || built || by_default || has_word(&makefile, p.name)) {
                        unread.push(p.name);
                    }
                }
                Support::WarnIfSet { acts_as } => {
                    assert!(
                        acts_as != Some(p.default),
                        "{}: acts_as is the default",
                        p.name
                    );
                }
                Support::FatalIfSet { why } => {
                    assert!(!why.is_empty(), "{}: no reason", p.name);
                }
                Support::NoEffect => {}
            }
            if p.support != Support::Implemented {
                for (f, t) in &texts {
                    if names_read(t).iter().any(|n| n == p.name) {
                        read_but_not_implemented.push(format!("{}: {}", f, p.name));
                    }
                }
            }
        }
        assert!(
            unread.is_empty(),
            "implemented but read nowhere: {:?}",
            unread
        );
        assert!(
            read_but_not_implemented.is_empty(),
            "read in the source but not marked implemented: {:#?}",
            read_but_not_implemented
        );
    }
}
