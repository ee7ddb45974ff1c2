//! Rewriting an address to standard form in a context (Postfix's trivial-rewrite
//! rewrite.c, ADDRESS_REWRITING_README "Rewrite addresses to standard form"): a source
//! route `@a,@b:user@d` is dropped; an address without `@` becomes `user@host` from
//! `host!user` (swap_bangpath) or `user%host` (allow_percent_hack); an address still
//! without a domain gets `@origin` (append_at_myorigin: $myorigin in the local context,
//! $remote_header_rewrite_domain in the remote one); a domain without a dot gets
//! `.domain` (append_dot_mydomain: $mydomain, or $remote_header_rewrite_domain); one
//! trailing dot of the domain is removed.
//!
//! Used by cleanup for header addresses (the local context for local clients, the remote
//! context, when $remote_header_rewrite_domain is set, for the others) and for automatic
//! BCC addresses.
//!
//! Security role: none; the input is an address in internal form. Logs nothing.

use crate::config::Config;

/// What an incomplete address is completed with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Appended as `@origin` to an address without a domain (empty: nothing).
    pub origin: String,
    /// Appended as `.domain` to a domain without a dot (empty: nothing).
    pub domain: String,
    pub swap_bangpath: bool,
    pub percent_hack: bool,
}

impl Context {
    /// The local context: $myorigin and $mydomain, as append_at_myorigin and
    /// append_dot_mydomain allow.
    pub fn local(cfg: &Config) -> Context {
        let when = |flag: &str, v: &str| {
            if cfg.bool(flag) {
                v.trim().to_string()
            } else {
                String::new()
            }
        };
        Context {
            origin: when("append_at_myorigin", cfg.get("myorigin")),
            domain: when("append_dot_mydomain", cfg.get("mydomain")),
            swap_bangpath: cfg.bool("swap_bangpath"),
            percent_hack: cfg.bool("allow_percent_hack"),
        }
    }

    /// The remote context: `None` when $remote_header_rewrite_domain is empty (remote
    /// addresses are not rewritten at all).
    pub fn remote(cfg: &Config) -> Option<Context> {
        let d = cfg.get("remote_header_rewrite_domain").trim();
        if d.is_empty() {
            return None;
        }
        Some(Context {
            origin: d.to_string(),
            domain: if cfg.bool("append_dot_mydomain") {
                d.to_string()
            } else {
                String::new()
            },
            ..Context::local(cfg)
        })
    }

    /// `address` (internal form) in standard form.
    pub fn rewrite(&self, address: &str) -> String {
        let mut a = address.trim().to_string();
        if a.is_empty() {
            return a;
        }
        // A source route: @a,@b:user@d.
        if a.starts_with('@')
            && let Some((_, rest)) = a.split_once(':')
        {
            a = rest.to_string();
        }
        if !a.contains('@') {
            if self.swap_bangpath && a.contains('!') {
                if let Some((host, user)) = a.split_once('!') {
                    a = format!("{}@{}", user, host);
                }
            } else if self.percent_hack
                && let Some((user, host)) = a.rsplit_once('%')
            {
                a = format!("{}@{}", user, host);
            }
        }
        match a.rsplit_once('@') {
            None if !self.origin.is_empty() => format!("{}@{}", a, self.origin),
            None => a,
            Some((local, domain)) => {
                let domain = domain.strip_suffix('.').unwrap_or(domain);
                let bare = !domain.contains('.') && !domain.starts_with('[');
                if bare && !domain.is_empty() && !self.domain.is_empty() {
                    format!("{}@{}.{}", local, domain, self.domain)
                } else {
                    format!("{}@{}", local, domain)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        let mut all = vec![("myhostname", "www.a.org")];
        all.extend_from_slice(pairs);
        Config::from_pairs(Path::new("/x"), &all)
    }

    #[test]
    fn local_context_completes_addresses() {
        let c = Context::local(&cfg(&[]));
        assert_eq!(c.rewrite("joe"), "joe@www.a.org");
        assert_eq!(c.rewrite("joe@host"), "joe@host.a.org");
        assert_eq!(c.rewrite("joe@host.b.test."), "joe@host.b.test");
        assert_eq!(c.rewrite("joe@[1.2.3.4]"), "joe@[1.2.3.4]");
        assert_eq!(c.rewrite("host!joe"), "joe@host.a.org");
        assert_eq!(c.rewrite("joe%x.test"), "joe@x.test");
        assert_eq!(c.rewrite("@r1,@r2:joe@x.test"), "joe@x.test");
        assert_eq!(c.rewrite(""), "");
        let c = Context::local(&cfg(&[
            ("append_at_myorigin", "no"),
            ("append_dot_mydomain", "no"),
            ("swap_bangpath", "no"),
        ]));
        assert_eq!(c.rewrite("joe"), "joe");
        assert_eq!(c.rewrite("joe@host"), "joe@host");
        assert_eq!(c.rewrite("host!joe"), "host!joe");
    }

    #[test]
    fn remote_context_only_with_a_domain() {
        assert_eq!(Context::remote(&cfg(&[])), None);
        let c =
            Context::remote(&cfg(&[("remote_header_rewrite_domain", "domain.invalid")])).unwrap();
        assert_eq!(c.rewrite("joe"), "joe@domain.invalid");
        assert_eq!(c.rewrite("joe@host"), "joe@host.domain.invalid");
        assert_eq!(c.rewrite("joe@x.test"), "joe@x.test");
    }
}
