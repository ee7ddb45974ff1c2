//! Domain lists ($mydestination, $relay_domains, ...) and the one matcher for them.
//!
//! Entries are lower-cased with a trailing dot removed. A `type:table` or `/file` entry
//! (Postfix's match_list) is not supported here: it is left out and reported through
//! `ignored`, for the caller to log. Matching is exact, case-insensitive; a `.parent` entry
//! matches subdomains of `parent`, and with parent matching (the list named in
//! $parent_domain_matches_subdomains) a plain `parent` entry does too.

/// A parsed domain list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainList {
    domains: Vec<String>,
    parent_match: bool,
    ignored: Vec<String>,
}

impl DomainList {
    /// Parse a list value (already `$name`-expanded). `parent_match`: plain entries also
    /// match their subdomains.
    pub fn parse(value: &str, parent_match: bool) -> DomainList {
        let mut list = DomainList {
            parent_match,
            ..DomainList::default()
        };
        for d in crate::config::split_list(value) {
            if d.contains(':') || d.starts_with('/') {
                list.ignored.push(d);
            } else {
                list.domains
                    .push(d.trim_end_matches('.').to_ascii_lowercase());
            }
        }
        list
    }

    /// The domains, lower-cased, in list order.
    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// The table and file entries that were left out.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Whether `domain` (any case, without a trailing dot) is listed.
    pub fn matches(&self, domain: &str) -> bool {
        if domain.is_empty() {
            return false;
        }
        let domain = domain.to_ascii_lowercase();
        domain_listed(&self.domains, self.parent_match, &domain)
    }
}

/// Whether `domain` (lower case) is in `list` (lower case): exactly, `.parent` entries for
/// subdomains, and with `parent_match` a plain `parent` entry for its subdomains too.
pub fn domain_listed(list: &[String], parent_match: bool, domain: &str) -> bool {
    list.iter().any(|d| {
        if let Some(sub) = d.strip_prefix('.') {
            return domain.ends_with(d.as_str()) || domain == sub;
        }
        domain == d || (parent_match && is_subdomain(domain, d))
    })
}

fn is_subdomain(domain: &str, parent: &str) -> bool {
    domain
        .strip_suffix(parent)
        .is_some_and(|head| head.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_case_insensitive() {
        let l = DomainList::parse("A.test, b.test.", false);
        assert_eq!(l.domains(), ["a.test", "b.test"]);
        assert!(l.matches("a.test") && l.matches("A.TEST") && l.matches("b.test"));
        assert!(!l.matches("x.a.test") && !l.matches("test") && !l.matches(""));
    }

    #[test]
    fn parent_and_dot_entries() {
        let plain = DomainList::parse("p.test .q.test", false);
        assert!(!plain.matches("a.p.test"));
        assert!(plain.matches("a.q.test") && plain.matches("q.test"));
        let parent = DomainList::parse("p.test", true);
        assert!(parent.matches("a.p.test") && parent.matches("p.test"));
        assert!(!parent.matches("ap.test"));
    }

    #[test]
    fn tables_and_files_are_left_out() {
        let l = DomainList::parse("hash:/etc/postfix/relay, /etc/relay, r.test", false);
        assert_eq!(l.domains(), ["r.test"]);
        assert_eq!(l.ignored(), ["hash:/etc/postfix/relay", "/etc/relay"]);
    }
}
