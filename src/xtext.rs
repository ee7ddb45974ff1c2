//! xtext (RFC 3461 section 4): `+`, `=`, controls, space and non-ASCII bytes as `+XX`.
//! Used for ENVID= and ORCPT= in the SMTP and LMTP clients and for the certificate names a
//! policy server is sent (`ccert_subject`, `ccert_issuer`, as Postfix encodes them).
//!
//! Security role: the encoded text is printable ASCII without spaces, so client-controlled
//! text cannot add words or lines to a protocol line. Logs nothing.

/// Encode `s` as xtext.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{:02X}", b));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_plus_equals_space_and_non_ascii() {
        assert_eq!(super::encode("Wietse Venema"), "Wietse+20Venema");
        assert_eq!(super::encode("a+b=c"), "a+2Bb+3Dc");
        assert_eq!(super::encode("\u{e9}"), "+C3+A9");
    }
}
