//! Configuration: main.cf (the parameter table in `params`, the syntax in `parse`) and
//! master.cf (`master_cf`).
//!
//! Security role: the configuration directory is trusted (root-owned); nothing here reads
//! network input. Follows postconf(5) and master(5). Logs "unused parameter" warnings for
//! main.cf names no component knows, as Postfix does.

pub mod compat;
pub mod inventory;
pub mod master_cf;
pub mod params;
pub mod parse;
pub mod support;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use parse::SyntaxError;

/// A parameter Postern knows: one of `params` (what Postern implements or handles
/// specially), else one of the other Postfix 2.10 parameters (`inventory`).
pub fn known(name: &str) -> Option<&'static params::Param> {
    params::find(name).or_else(|| inventory::find(name))
}

/// Every parameter Postern knows: `params`, then `inventory`.
pub fn all_params() -> impl Iterator<Item = &'static params::Param> {
    params::PARAMS.iter().chain(inventory::INVENTORY)
}

/// The configuration directory compiled in (`make CONFIG_DIRECTORY=...` may change it).
pub const DEFAULT_CONFIG_DIR: &str = match option_env!("POSTERN_CONFIG_DIRECTORY") {
    Some(d) => d,
    None => "/etc/postfix",
};

/// Errors loading the configuration.
#[derive(Debug)]
pub enum ConfigError {
    Io { path: PathBuf, err: std::io::Error },
    Syntax(SyntaxError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, err } => write!(f, "open {}: {}", path.display(), err),
            ConfigError::Syntax(e) => write!(f, "{}", e),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Choose the configuration directory: `-c DIR`, else `$MAIL_CONFIG`, else the default.
pub fn config_dir(cli: Option<&str>) -> PathBuf {
    if let Some(d) = cli {
        return PathBuf::from(d);
    }
    match std::env::var("MAIL_CONFIG") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(DEFAULT_CONFIG_DIR),
    }
}

/// A loaded, fully expanded main.cf. Cheap lookups by name; values never change after load
/// (SIGHUP builds a new `Config`).
#[derive(Debug, Clone)]
pub struct Config {
    dir: PathBuf,
    /// Settings as written in main.cf (unexpanded), in file order, later ones winning.
    explicit: Vec<(String, String)>,
    values: HashMap<String, String>,
    /// Names set in main.cf that no component knows.
    pub unused: Vec<String>,
}

impl Config {
    /// Load `dir/main.cf`. A missing main.cf is an error, as with Postfix.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        let path = dir.join("main.cf");
        let text = std::fs::read_to_string(&path).map_err(|err| ConfigError::Io {
            path: path.clone(),
            err,
        })?;
        Self::from_text(dir, &text, &path.display().to_string())
    }

    /// Build from main.cf text (used by `load` and by tests).
    pub fn from_text(dir: &Path, text: &str, file: &str) -> Result<Config, ConfigError> {
        let pairs = parse::parse_main_cf(text, file).map_err(ConfigError::Syntax)?;
        let explicit: Vec<(String, String)> = pairs.into_iter().map(|(n, v, _)| (n, v)).collect();
        Ok(Self::build(dir, explicit))
    }

    /// A configuration from explicit settings (tests, and master.cf `-o` overrides).
    pub fn from_pairs(dir: &Path, settings: &[(&str, &str)]) -> Config {
        let explicit = settings
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Self::build(dir, explicit)
    }

    /// This configuration with `-o name=value` overrides applied on top.
    pub fn with_overrides(&self, overrides: &[(String, String)]) -> Config {
        let mut explicit = self.explicit.clone();
        explicit.extend(overrides.iter().cloned());
        Self::build(&self.dir, explicit)
    }

    fn build(dir: &Path, explicit: Vec<(String, String)>) -> Config {
        let mut raw: HashMap<String, String> = HashMap::new();
        for p in all_params() {
            raw.insert(p.name.to_string(), p.default.to_string());
        }
        raw.insert("config_directory".into(), dir.display().to_string());
        for (name, value) in compat::defaults_at(Self::level_of(&explicit)) {
            raw.insert(name.into(), value.into());
        }
        let mut unused = Vec::new();
        for (name, value) in &explicit {
            if known(name).is_none() && !unused.contains(name) && !is_service_param(name) {
                unused.push(name.clone());
            }
            raw.insert(name.clone(), value.clone());
        }
        // Host-derived defaults, as Postfix computes them.
        let set = |n: &str| explicit.iter().any(|(k, _)| k == n);
        if !set("myhostname") {
            let mut host = crate::sys::hostname();
            if !host.contains('.') {
                let domain = if set("mydomain") {
                    raw.get("mydomain").cloned().unwrap_or_default()
                } else {
                    "localdomain".to_string()
                };
                host = format!("{}.{}", host, domain);
            }
            raw.insert("myhostname".into(), host);
        }
        if !set("mydomain") {
            let host = raw["myhostname"].clone();
            let host = parse::expand(&host, &|n| raw.get(n).cloned());
            let domain = match host.find('.') {
                Some(i) => host[i + 1..].to_string(),
                None => "localdomain".to_string(),
            };
            raw.insert("mydomain".into(), domain);
        }
        let values = raw
            .iter()
            .map(|(n, v)| (n.clone(), parse::expand(v, &|x| raw.get(x).cloned())))
            .collect();
        Config {
            dir: dir.to_path_buf(),
            explicit,
            values,
            unused,
        }
    }

    /// The `compatibility_level` main.cf sets (the last setting); 0 when unset or malformed
    /// (`postfix check` and `postfix start` refuse a malformed one: `support::main_cf`).
    fn level_of(explicit: &[(String, String)]) -> compat::Level {
        let zero = compat::Level::parse("0").expect("0 is a level");
        match explicit
            .iter()
            .rev()
            .find(|(n, _)| n == "compatibility_level")
        {
            Some((_, v)) => compat::Level::parse(v).unwrap_or(zero),
            None => zero,
        }
    }

    /// A parameter's implicit default in this configuration: the parameter table's, or the
    /// one main.cf's `compatibility_level` gives it. Unexpanded.
    pub fn default_of(&self, name: &str) -> Option<&'static str> {
        compat::default_at(Self::level_of(&self.explicit), name)
            .or_else(|| known(name).map(|p| p.default))
    }

    /// The configuration directory this was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Settings written in main.cf, unexpanded (`postconf -n`), sorted by name.
    pub fn explicit(&self) -> Vec<(String, String)> {
        let mut map: HashMap<&str, &str> = HashMap::new();
        for (n, v) in &self.explicit {
            map.insert(n, v);
        }
        let mut out: Vec<(String, String)> = map
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        out.sort();
        out
    }

    /// A parameter's value as written (main.cf's last setting, else the default), without
    /// `$name` expansion: for the values Postfix's local(8) reads raw and expands itself at
    /// delivery (mailbox_command, luser_relay, forward_path).
    pub fn raw(&self, name: &str) -> String {
        match self.explicit.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => v.clone(),
            None => self.default_of(name).unwrap_or_default().to_string(),
        }
    }

    /// The expanded value of a parameter; unknown names give "".
    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }

    /// Whether a parameter has a value (known or set in main.cf).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A numeric parameter; a malformed value falls back to the default.
    pub fn int(&self, name: &str) -> i64 {
        let v = self.get(name).trim();
        v.parse().unwrap_or_else(|_| {
            known(name)
                .and_then(|p| p.default.parse().ok())
                .unwrap_or(0)
        })
    }

    /// An SMTP reply code parameter (`*_reject_code`, `*_defer_code`): its value when it
    /// is a 4xx or 5xx code, else `default`.
    pub fn reply_code(&self, name: &str, default: u16) -> u16 {
        match self.int(name) {
            c @ 400..=599 => c as u16,
            _ => default,
        }
    }

    /// A yes/no parameter.
    pub fn bool(&self, name: &str) -> bool {
        matches!(
            self.get(name).trim().to_ascii_lowercase().as_str(),
            "yes" | "true" | "1"
        )
    }

    /// A time parameter (`300s`, `5m`, `1h`, `5d`, `1w`; a bare number uses the parameter's
    /// default unit).
    pub fn time(&self, name: &str) -> Duration {
        let unit = known(name).map(|p| p.time_unit).unwrap_or('s');
        parse_time(self.get(name), unit)
            .or_else(|| known(name).and_then(|p| parse_time(p.default, unit)))
            .unwrap_or(Duration::ZERO)
    }

    /// A list parameter, split on commas and white space.
    pub fn list(&self, name: &str) -> Vec<String> {
        split_list(self.get(name))
    }

    /// Whether the list parameter `name` is in parent_domain_matches_subdomains
    /// (`example.com` there also matches its subdomains).
    pub fn parent_domain_matches(&self, name: &str) -> bool {
        self.list("parent_domain_matches_subdomains")
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))
    }

    /// Everything with its expanded value, sorted (for `postconf`).
    pub fn all(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .values
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        v.sort();
        v
    }
}

/// `Config::unused` minus the user-defined names that main.cf values or master.cf refer to
/// (`$name`, `${name}`, `$(name)`) and the smtpd_restriction_classes, which Postfix
/// counts as used.
pub fn unused_names(
    cfg: &Config,
    explicit: &[(String, String)],
    master_cf: Option<&str>,
) -> Vec<String> {
    let mut referenced = HashSet::new();
    for (_, v) in explicit {
        references(v, &mut referenced);
    }
    // Restriction classes are parameters of the administrator's naming, used by name.
    referenced.extend(cfg.list("smtpd_restriction_classes"));
    if let Some(m) = master_cf {
        references(m, &mut referenced);
    }
    cfg.unused
        .iter()
        .filter(|n| !referenced.contains(n.as_str()))
        .cloned()
        .collect()
}

/// Collect the parameter names `$name`, `${name...}` and `$(name...)` in `text`.
pub fn references(text: &str, into: &mut HashSet<String>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        i += 1;
        if i < b.len() && (b[i] == b'{' || b[i] == b'(') {
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i > start {
            into.insert(text[start..i].to_string());
        }
    }
}

/// master.cf service-specific parameters (`name_destination_concurrency_limit` and the like)
/// are known when they follow Postfix's naming pattern.
fn is_service_param(name: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "_destination_concurrency_limit",
        "_destination_recipient_limit",
        "_destination_rate_delay",
        "_initial_destination_concurrency",
        "_time_limit",
        "_process_limit",
    ];
    SUFFIXES
        .iter()
        .any(|s| name.ends_with(s) && name.len() > s.len())
}

/// Parse `10s`, `5m`, `2h`, `1d`, `1w`; a bare number takes `default_unit`.
pub fn parse_time(v: &str, default_unit: char) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let (num, unit) = match v.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => (&v[..v.len() - 1], c),
        _ => (v, default_unit),
    };
    let n: f64 = num.trim().parse().ok()?;
    let mult = match unit.to_ascii_lowercase() {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        'w' => 604800.0,
        _ => return None,
    };
    if n < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(n * mult))
}

/// Split a Postfix list value on commas and white space.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_expansion() {
        let c = Config::from_pairs(
            Path::new("/tmp/x"),
            &[("myhostname", "www.a.org"), ("maximal_queue_lifetime", "2")],
        );
        assert_eq!(c.get("mydomain"), "a.org");
        assert_eq!(c.get("smtpd_banner"), "www.a.org ESMTP Postfix");
        assert_eq!(
            c.get("mydestination"),
            "www.a.org, localhost.a.org, localhost"
        );
        assert_eq!(c.get("config_directory"), "/tmp/x");
        assert_eq!(
            c.time("maximal_queue_lifetime"),
            Duration::from_secs(2 * 86400)
        );
        assert_eq!(c.time("smtpd_timeout"), Duration::from_secs(300));
        assert_eq!(c.int("message_size_limit"), 10240000);
        assert!(!c.bool("smtpd_helo_required"));
        assert!(c.unused.is_empty());
        // Postfix 1.x's virtual_maps still feeds virtual_alias_maps (and its domains).
        let old = Config::from_pairs(Path::new("/x"), &[("virtual_maps", "hash:/x/v")]);
        assert_eq!(old.get("virtual_alias_maps"), "hash:/x/v");
        assert_eq!(old.get("virtual_alias_domains"), "hash:/x/v");
    }

    #[test]
    fn unknown_parameter_is_reported_not_fatal() {
        let c = Config::from_text(
            Path::new("/x"),
            "bogus_thing = 1\nsmtp_destination_concurrency_limit = 3\n",
            "main.cf",
        )
        .unwrap();
        assert_eq!(c.unused, vec!["bogus_thing".to_string()]);
        assert_eq!(c.get("bogus_thing"), "1");
        // A restriction class is used by its name.
        let text = "smtpd_restriction_classes = strict\nstrict = reject\nother = 1\n";
        let c = Config::from_text(Path::new("/x"), text, "main.cf").unwrap();
        assert_eq!(
            unused_names(&c, &c.explicit(), None),
            vec!["other".to_string()]
        );
    }

    #[test]
    fn time_units() {
        assert_eq!(parse_time("5m", 's'), Some(Duration::from_secs(300)));
        assert_eq!(parse_time("1w", 's'), Some(Duration::from_secs(604800)));
        assert_eq!(parse_time("x", 's'), None);
        assert_eq!(parse_time("3", 'h'), Some(Duration::from_secs(10800)));
    }

    #[test]
    fn references_found() {
        let mut s = HashSet::new();
        references("$a ${b?x} $(c) $$ d", &mut s);
        assert!(s.contains("a") && s.contains("b") && s.contains("c"));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn lists() {
        assert_eq!(split_list("a, b\tc,,d"), vec!["a", "b", "c", "d"]);
    }
}
