//! The environment of a command delivery (alias `|command` targets and $mailbox_command),
//! as local(8) builds it: HOME and SHELL of the account the command runs as, LOGNAME and
//! USER the recipient's user name, SENDER, RECIPIENT, LOCAL, DOMAIN, EXTENSION,
//! ORIGINAL_RECIPIENT and ENVID when not empty, PATH `/usr/bin:/bin`, plus the variables
//! $export_environment names, copied from this process's environment.
//!
//! Security role: envelope data reaches the command only here, as environment values, and
//! each value has every character outside $command_expansion_filter replaced by `_` (as
//! Postfix does), so a recipient such as `x;id@host` arrives as `x_id@host` and nothing in
//! it is ever parsed by a shell as a command. Logs nothing.

use crate::config::Config;
use crate::delivery::command::DEFAULT_PATH;

/// What the environment describes: the account and the recipient.
pub(super) struct EnvFacts<'a> {
    pub home: &'a str,
    pub shell: &'a str,
    /// The recipient's user name (local part without extension).
    pub user: &'a str,
    pub sender: &'a str,
    /// The address being delivered.
    pub recipient: &'a str,
    pub local: &'a str,
    pub domain: &'a str,
    pub extension: &'a str,
    pub original: &'a str,
    pub envid: &'a str,
}

/// Replace every character of `value` outside `allowed` with `_`.
pub(super) fn censor(value: &str, allowed: &str) -> String {
    value
        .chars()
        .map(|c| if allowed.contains(c) { c } else { '_' })
        .collect()
}

/// The command's environment, in Postfix's order.
pub(super) fn command_env(cfg: &Config, f: &EnvFacts<'_>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for name in cfg.list("export_environment") {
        if let Some((k, v)) = name.split_once('=') {
            env.push((k.to_string(), v.to_string()));
        } else if let Ok(v) = std::env::var(&name) {
            env.push((name, v));
        }
    }
    env.push(("PATH".into(), DEFAULT_PATH.into()));
    let filter = cfg.get("command_expansion_filter");
    let mut add = |k: &str, v: &str, always: bool| {
        if always || !v.is_empty() {
            env.retain(|(n, _)| n != k);
            env.push((k.to_string(), censor(v, filter)));
        }
    };
    add("HOME", f.home, true);
    add("LOGNAME", f.user, true);
    add("USER", f.user, true);
    add("SENDER", f.sender, true);
    add("RECIPIENT", f.recipient, true);
    add("LOCAL", f.local, true);
    add("SHELL", f.shell, true);
    add("DOMAIN", f.domain, false);
    add("EXTENSION", f.extension, false);
    add("ORIGINAL_RECIPIENT", f.original, false);
    add("ENVID", f.envid, false);
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_censored_and_empty_ones_left_out() {
        let cfg = Config::from_pairs(std::path::Path::new("/nonexistent"), &[]);
        let f = EnvFacts {
            home: "/home/u",
            shell: "/bin/sh",
            user: "u",
            sender: "a$(id)@b",
            recipient: "x;id@host",
            local: "x;id",
            domain: "host",
            extension: "",
            original: "X;id@host",
            envid: "",
        };
        let env = command_env(&cfg, &f);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("RECIPIENT"), Some("x_id@host"));
        assert_eq!(get("SENDER"), Some("a__id_@b"));
        assert_eq!(get("ORIGINAL_RECIPIENT"), Some("X_id@host"));
        assert_eq!(get("LOCAL"), Some("x_id"));
        assert_eq!(get("PATH"), Some("/usr/bin:/bin"));
        assert_eq!(get("EXTENSION"), None);
        assert_eq!(get("ENVID"), None);
        assert_eq!(get("USER"), Some("u"));
        assert_eq!(censor("a b\u{e9}+c", "abc+"), "a_b_+c");
    }
}
