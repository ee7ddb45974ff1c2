//! smtpd_tls_protocols / smtpd_tls_mandatory_protocols as a native-tls protocol range.
//! Postfix's syntax (postconf(5)): `>=TLSv1.2`, `<=TLSv1.3`, a list of protocols to use
//! (`TLSv1.2 TLSv1.3`) or to exclude (`!SSLv2, !SSLv3, !TLSv1`), separated by commas,
//! colons or white space; SSLv2/SSLv3 are never used.
//!
//! Security role: native-tls sets only a minimum and a maximum, so a setting with a hole
//! (`!TLSv1.2` alone) becomes the highest contiguous enabled range: narrower, never wider.
//! The floor is TLSv1.2 whatever the setting says (native-tls's own default; OpenSSL 3
//! refuses older versions at its default security level anyway). native-tls's OpenSSL
//! server uses Mozilla's "intermediate" profile, which turns TLS 1.3 off, so in practice
//! the server speaks TLS 1.2; a setting that allows only TLS 1.3 is reported
//! (`Range::tls13_only`) and TLS is then disabled rather than weakened. Logs nothing.

use native_tls::Protocol;

/// The versions Postern can speak, oldest first, with Postfix's names.
const VERSIONS: &[(&str, Protocol)] = &[
    ("TLSv1", Protocol::Tlsv10),
    ("TLSv1.1", Protocol::Tlsv11),
    ("TLSv1.2", Protocol::Tlsv12),
    ("TLSv1.3", Protocol::Tlsv13),
];

/// The lowest version ever used (index into `VERSIONS`).
const FLOOR: usize = 2;

/// The versions to allow.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub min: Protocol,
    /// `None`: the newest the library has.
    pub max: Option<Protocol>,
    /// Only TLS 1.3 is allowed, which native-tls cannot serve.
    pub tls13_only: bool,
}

fn index(name: &str) -> Option<usize> {
    VERSIONS
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// The range a setting allows; `None` for a syntax error or an empty range.
pub fn parse(value: &str) -> Option<Range> {
    let mut on = [true; 4];
    let mut listed = [false; 4];
    let mut any_listed = false;
    let tokens = value
        .split(|c: char| c == ',' || c == ':' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty());
    for t in tokens {
        let legacy = |n: &str| n.eq_ignore_ascii_case("SSLv2") || n.eq_ignore_ascii_case("SSLv3");
        if let Some(v) = t.strip_prefix(">=") {
            let i = index(v)?;
            on.iter_mut().take(i).for_each(|x| *x = false);
        } else if let Some(v) = t.strip_prefix("<=") {
            let i = index(v)?;
            on.iter_mut().skip(i + 1).for_each(|x| *x = false);
        } else if let Some(v) = t.strip_prefix('!') {
            if !legacy(v) {
                *on.get_mut(index(v)?)? = false;
            }
        } else if !legacy(t) {
            *listed.get_mut(index(t)?)? = true;
            any_listed = true;
        }
    }
    if any_listed {
        on.iter_mut().zip(listed).for_each(|(o, l)| *o = *o && l);
    }
    on.iter_mut().take(FLOOR).for_each(|x| *x = false);
    // The highest contiguous run of enabled versions.
    let top = on.iter().rposition(|&x| x)?;
    let bottom = on
        .get(..=top)?
        .iter()
        .rposition(|&x| !x)
        .map_or(0, |i| i + 1);
    Some(Range {
        tls13_only: bottom + 1 == VERSIONS.len(),
        min: VERSIONS.get(bottom)?.1,
        max: if top + 1 == VERSIONS.len() {
            None
        } else {
            Some(VERSIONS.get(top)?.1)
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The range as `MIN-MAX` (native-tls's Protocol has no PartialEq).
    fn range(v: &str) -> Option<String> {
        parse(v).map(|r| format!("{:?}-{:?}", r.min, r.max))
    }

    fn r(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn postfix_forms() {
        let all = r("Tlsv12-None");
        assert_eq!(range(""), all);
        assert_eq!(range(">=TLSv1"), all);
        assert_eq!(range("!SSLv2, !SSLv3"), all);
        assert_eq!(range("!SSLv2:!SSLv3:!TLSv1:!TLSv1.1"), all);
        assert_eq!(range(">=TLSv1.3"), r("Tlsv13-None"));
        assert_eq!(range("!TLSv1.3"), r("Tlsv12-Some(Tlsv12)"));
        assert_eq!(range("TLSv1.2 TLSv1.3"), all);
        assert_eq!(range("TLSv1.3"), r("Tlsv13-None"));
        assert!(parse(">=TLSv1.3").unwrap().tls13_only);
        assert!(!parse(">=TLSv1").unwrap().tls13_only);
    }

    #[test]
    fn errors_and_empty_ranges() {
        assert_eq!(range("TLSv9"), None);
        assert_eq!(range(">=bogus"), None);
        assert_eq!(range("<=TLSv1.1"), None);
        assert_eq!(range("!TLSv1.2 !TLSv1.3"), None);
    }

    #[test]
    fn a_hole_is_narrowed_never_widened() {
        // TLSv1.1 and TLSv1.3 wanted, 1.2 not: only 1.3 (1.1 is below the floor anyway).
        assert_eq!(range("!TLSv1.2"), r("Tlsv13-None"));
    }
}
