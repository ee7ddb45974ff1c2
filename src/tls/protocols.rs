//! The protocol settings (smtpd_tls_protocols / smtpd_tls_mandatory_protocols, and the SMTP
//! client's smtp_tls_protocols / smtp_tls_mandatory_protocols) as an OpenSSL range.
//! Postfix's syntax (postconf(5)): `>=TLSv1.2`, `<=TLSv1.3`, a list of protocols to use
//! (`TLSv1.2 TLSv1.3`) or to exclude (`!SSLv2, !SSLv3, !TLSv1`), separated by commas,
//! colons or white space; SSLv2/SSLv3 are never used.
//!
//! Security role: the range is set as a minimum and a maximum version, so a setting with a
//! hole (`!TLSv1.2` alone) becomes the highest contiguous enabled range: narrower, never
//! wider. The floor is TLSv1.2 whatever the setting says (OpenSSL 3 refuses older versions
//! at its default security level anyway). Logs nothing.

use openssl::ssl::SslVersion as Protocol;

/// The versions Postern can speak, oldest first, with Postfix's names.
const VERSIONS: &[(&str, Protocol)] = &[
    ("TLSv1", Protocol::TLS1),
    ("TLSv1.1", Protocol::TLS1_1),
    ("TLSv1.2", Protocol::TLS1_2),
    ("TLSv1.3", Protocol::TLS1_3),
];

/// The lowest version ever used (index into `VERSIONS`).
const FLOOR: usize = 2;

/// The versions to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: Protocol,
    /// `None`: the newest the library has.
    pub max: Option<Protocol>,
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

    fn range(v: &str) -> Option<Range> {
        parse(v)
    }

    fn r(min: Protocol, max: Option<Protocol>) -> Option<Range> {
        Some(Range { min, max })
    }

    #[test]
    fn postfix_forms() {
        let all = r(Protocol::TLS1_2, None);
        assert_eq!(range(""), all);
        assert_eq!(range(">=TLSv1"), all);
        assert_eq!(range("!SSLv2, !SSLv3"), all);
        assert_eq!(range("!SSLv2:!SSLv3:!TLSv1:!TLSv1.1"), all);
        assert_eq!(range(">=TLSv1.3"), r(Protocol::TLS1_3, None));
        assert_eq!(
            range("!TLSv1.3"),
            r(Protocol::TLS1_2, Some(Protocol::TLS1_2))
        );
        assert_eq!(range("TLSv1.2 TLSv1.3"), all);
        assert_eq!(range("TLSv1.3"), r(Protocol::TLS1_3, None));
        assert_eq!(
            range("<=TLSv1.2"),
            r(Protocol::TLS1_2, Some(Protocol::TLS1_2))
        );
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
        assert_eq!(range("!TLSv1.2"), r(Protocol::TLS1_3, None));
    }
}
