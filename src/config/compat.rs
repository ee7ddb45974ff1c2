//! `compatibility_level`: the defaults that Postfix 3.x changed, chosen by the level main.cf
//! sets (COMPATIBILITY_README, postconf(5) "compatibility_level").
//!
//! Postern's parameter table holds Postfix 2.10's defaults (level 0). A main.cf written for
//! Postfix 3 (RHEL 8/9 and Debian ship `compatibility_level = 2`) relies on the newer
//! defaults, some of which narrow who may relay (`mynetworks_style = host`, empty
//! `relay_domains`): ignoring the level would open the relay wider than the admin set it.
//! So a parameter left at its implicit default takes the value of the level; an explicit
//! setting always wins.
//!
//! Security role: part of the relay policy's defaults. Reads only main.cf. Logs nothing.

/// A level as Postfix compares them: `major[.minor[.patch]]`, numerically per part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Level(u32, u32, u32);

impl Level {
    /// Parse `0`, `1`, `2`, `3.6`, `3.11.1`; `None` for anything else (Postfix: fatal).
    pub fn parse(s: &str) -> Option<Level> {
        let mut parts = [0u32; 3];
        let mut fields = s.trim().split('.');
        for (i, p) in fields.by_ref().take(3).enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            parts[i] = p.parse().ok()?;
        }
        if fields.next().is_some() {
            return None;
        }
        Some(Level(parts[0], parts[1], parts[2]))
    }
}

/// The defaults that change at each level, oldest first: at level L, every entry whose level
/// is <= L applies. Only for what Postern implements.
const CHANGES: &[(Level, &str, &str)] = &[
    (Level(1, 0, 0), "append_dot_mydomain", "no"),
    (Level(1, 0, 0), "smtputf8_enable", "yes"),
    (Level(2, 0, 0), "mynetworks_style", "host"),
    (Level(2, 0, 0), "relay_domains", ""),
];

/// The default of `name` at `level`, when the level changes it.
pub fn default_at(level: Level, name: &str) -> Option<&'static str> {
    CHANGES
        .iter()
        .rev()
        .find(|(at, n, _)| *n == name && *at <= level)
        .map(|(_, _, v)| *v)
}

/// Every (name, default) the level changes.
pub fn defaults_at(level: Level) -> impl Iterator<Item = (&'static str, &'static str)> {
    CHANGES
        .iter()
        .filter(move |(at, _, _)| *at <= level)
        .map(|(_, n, v)| (*n, *v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_compare_as_postfix() {
        assert_eq!(Level::parse("0"), Some(Level(0, 0, 0)));
        assert_eq!(Level::parse("3.6"), Some(Level(3, 6, 0)));
        assert!(Level::parse("3.11").unwrap() > Level::parse("3.6").unwrap());
        assert!(Level::parse("9999").unwrap() > Level::parse("3.11.1").unwrap());
        assert_eq!(Level::parse(" 2 "), Some(Level(2, 0, 0)));
        for bad in ["", "x", "1.", "1..2", "-1", "1.2.3.4", "1.a"] {
            assert!(Level::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn each_level_brings_its_defaults() {
        let l = |s| Level::parse(s).unwrap();
        assert_eq!(default_at(l("0"), "mynetworks_style"), None);
        assert_eq!(default_at(l("1"), "append_dot_mydomain"), Some("no"));
        assert_eq!(default_at(l("0"), "smtputf8_enable"), None);
        assert_eq!(default_at(l("1"), "smtputf8_enable"), Some("yes"));
        assert_eq!(default_at(l("1"), "mynetworks_style"), None);
        assert_eq!(default_at(l("2"), "mynetworks_style"), Some("host"));
        assert_eq!(default_at(l("3.6"), "relay_domains"), Some(""));
        assert_eq!(defaults_at(l("0")).count(), 0);
        assert_eq!(defaults_at(l("2")).count(), CHANGES.len());
        for (_, name, _) in CHANGES {
            assert!(super::super::params::find(name).is_some(), "{name}");
        }
    }
}
