//! MAIL FROM / RCPT TO argument parsing: the address (with or without `<>`, with or
//! without a space after the colon, as Postfix tolerates; the session refuses a bare one
//! with strict_rfc821_envelopes), ESMTP parameters (RFC 1870 SIZE,
//! RFC 6152 BODY, RFC 3461 RET/ENVID/NOTIFY/ORCPT with xtext decoding), and qualifying bare
//! local parts with $myorigin.
//!
//! Security role: parses untrusted client text; every malformed form yields an error that
//! the session turns into Postfix's 501/555 reply. Logs nothing.

/// A parsed `FROM:<addr> params` or `TO:<addr> params` argument.
#[derive(Debug, PartialEq)]
pub struct PathArg {
    /// The address as the client gave it, without brackets.
    pub address: String,
    /// It was enclosed in `<>` and holds no RFC 822 comment outside quotes
    /// (strict_rfc821_envelopes requires both).
    pub bracketed: bool,
    /// `NAME=value` or bare `NAME` parameters, in order.
    pub params: Vec<(String, Option<String>)>,
}

/// Why a path argument could not be parsed.
#[derive(Debug, PartialEq)]
pub enum PathError {
    /// `FROM:` / `TO:` missing.
    Syntax,
    /// The address itself is malformed.
    BadAddress,
}

/// Parse the argument of MAIL (`keyword` = "FROM") or RCPT (`keyword` = "TO").
pub fn parse_path(args: &str, keyword: &str) -> Result<PathArg, PathError> {
    let rest = strip_keyword(args.trim_start(), keyword)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or(PathError::Syntax)?
        .trim_start();
    let bracketed = rest.starts_with('<');
    let (address, tail) = if let Some(inner) = rest.strip_prefix('<') {
        split_close(inner).ok_or(PathError::BadAddress)?
    } else {
        match rest.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((a, _)) => (a, rest.strip_prefix(a).unwrap_or("")),
            None => (rest, ""),
        }
    };
    if !tail.is_empty() && !tail.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(PathError::BadAddress);
    }
    // Strip an RFC 5321 source route (`@a,@b:user@c`), as Postfix does.
    let address = match address.strip_prefix('@') {
        Some(route) => route
            .split_once(':')
            .map(|(_, a)| a)
            .ok_or(PathError::BadAddress)?,
        None => address,
    };
    if !valid_address(address) {
        return Err(PathError::BadAddress);
    }
    let params = tail
        .split_whitespace()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (p.to_string(), None),
        })
        .collect();
    Ok(PathArg {
        address: address.to_string(),
        bracketed: bracketed && !has_comment(address),
        params,
    })
}

/// Whether `a` has an RFC 822 comment (a `(` outside a quoted string).
fn has_comment(a: &str) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    for c in a.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => return true,
            _ => {}
        }
    }
    false
}

/// `s` without a leading `keyword` (any case); `None` when it does not start with it.
/// Never slices inside a character: `get` refuses an index that is not a boundary.
fn strip_keyword<'a>(s: &'a str, keyword: &str) -> Option<&'a str> {
    let n = keyword.len();
    s.get(..n)
        .filter(|head| head.eq_ignore_ascii_case(keyword))
        .and_then(|_| s.get(n..))
}

/// Split at the closing `>` (skipping quoted strings): the address and what follows `>`.
fn split_close(s: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            // `i` comes from char_indices and `>` is one byte: both are boundaries.
            '>' if !quoted => return Some((s.get(..i)?, s.get(i + 1..)?)),
            _ => {}
        }
    }
    None
}

fn valid_address(a: &str) -> bool {
    if a.is_empty() {
        return true;
    }
    if a.chars().any(|c| c.is_control() || c == '<' || c == '>') {
        return false;
    }
    if a.contains(char::is_whitespace) && !a.starts_with('"') {
        return false;
    }
    match a.rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && valid_domain(domain),
        None => true,
    }
}

fn valid_domain(d: &str) -> bool {
    if d.is_empty() {
        return false;
    }
    if let Some(lit) = d.strip_prefix('[') {
        return lit.ends_with(']');
    }
    let n = d.split('.').count();
    d.split('.').enumerate().all(|(i, label)| {
        // A single trailing dot is tolerated.
        (!label.is_empty() || i == n - 1 && i > 0)
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b >= 0x80)
    })
}

/// Qualify a bare local part with `origin`; the null address stays empty.
pub fn qualify(address: &str, origin: &str) -> String {
    if address.is_empty() || address.contains('@') {
        address.trim_end_matches('.').to_string()
    } else {
        format!("{}@{}", address, origin)
    }
}

/// The lower-cased domain of a qualified address.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default()
}

/// Decode RFC 3461 xtext (`+XX` hex escapes). `None` when malformed.
pub fn xtext_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = s.get(i + 1..i + 3)?;
                if !hex
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
                {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            c if (33..=126).contains(&c) && c != b'=' => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Decode an ORCPT address of type `addr_type`: RFC 6533 uxtext for `utf-8`, xtext for
/// others (Postfix's smtpd). `None` when malformed.
pub fn orcpt_decode(addr_type: &str, s: &str) -> Option<String> {
    if addr_type.eq_ignore_ascii_case("utf-8") {
        uxtext_decode(s)
    } else {
        xtext_decode(s)
    }
}

/// Decode RFC 6533 uxtext: `\x{HEX}` stands for that character, anything else for itself.
/// `None` for a malformed escape, a code point beyond U+10FFFF or a surrogate.
pub fn uxtext_decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("\\x{") {
        out.push_str(rest.get(..at)?);
        let tail = rest.get(at + 3..)?;
        let end = tail.find('}')?;
        let hex = tail.get(..end)?;
        if hex.is_empty() || hex.len() > 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
        rest = tail.get(end + 1..)?;
    }
    out.push_str(rest);
    if out.is_empty() || out.chars().any(char::is_control) {
        return None;
    }
    Some(out)
}

/// Validate a NOTIFY= value: `NEVER`, or a comma list of SUCCESS, FAILURE, DELAY.
pub fn valid_notify(v: &str) -> Option<String> {
    let up = v.to_ascii_uppercase();
    if up == "NEVER" {
        return Some(up);
    }
    let ok = up
        .split(',')
        .all(|w| matches!(w, "SUCCESS" | "FAILURE" | "DELAY"));
    if ok && !up.is_empty() { Some(up) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(a: &str, k: &str) -> Result<String, PathError> {
        parse_path(a, k).map(|p| p.address)
    }

    #[test]
    fn forms_postfix_accepts() {
        assert_eq!(addr("FROM:<a@x.test>", "FROM").unwrap(), "a@x.test");
        assert_eq!(addr("from: root", "FROM").unwrap(), "root");
        assert_eq!(addr("FROM:a@x.test", "FROM").unwrap(), "a@x.test");
        assert_eq!(addr("FROM:<>", "FROM").unwrap(), "");
        assert_eq!(addr("to:openstack", "TO").unwrap(), "openstack");
        assert_eq!(addr("TO:<@r.test:u@x.test>", "TO").unwrap(), "u@x.test");
        let p = parse_path("FROM:<a@b.test> SIZE=100 BODY=8BITMIME", "FROM").unwrap();
        assert_eq!(
            p.params,
            vec![
                ("SIZE".to_string(), Some("100".to_string())),
                ("BODY".to_string(), Some("8BITMIME".to_string()))
            ]
        );
    }

    #[test]
    fn malformed_forms() {
        assert_eq!(addr("FROM:<a@x.test", "FROM"), Err(PathError::BadAddress));
        assert_eq!(addr("FROM <a@x.test>", "FROM"), Err(PathError::Syntax));
        assert_eq!(addr("TO:<a@x.test>", "FROM"), Err(PathError::Syntax));
        assert_eq!(addr("FROM:<a@>", "FROM"), Err(PathError::BadAddress));
        assert_eq!(addr("FROM:<a@b..c>", "FROM"), Err(PathError::BadAddress));
        assert_eq!(addr("FROM:<a@x>junk", "FROM"), Err(PathError::BadAddress));
    }

    #[test]
    fn multibyte_characters_never_split() {
        // "FRO\u{e9}" has a two-byte character across byte 4: this used to panic.
        assert_eq!(addr("FRO\u{e9}:<a@b>", "FROM"), Err(PathError::Syntax));
        assert_eq!(addr("T\u{e9}:<a@b>", "TO"), Err(PathError::Syntax));
        assert_eq!(addr("\u{e9}", "TO"), Err(PathError::Syntax));
        assert_eq!(addr("FROM:<@\u{e9}>", "FROM"), Err(PathError::BadAddress));
        assert_eq!(
            addr("FROM:<\u{e9}@x.test>\u{e9}", "FROM"),
            Err(PathError::BadAddress)
        );
        // Valid UTF-8 addresses are accepted (Postfix 3.x with strict_smtputf8 = no).
        assert_eq!(
            addr("FROM:<j\u{f6}rg@b\u{fc}ro.test> SIZE=1", "FROM").unwrap(),
            "j\u{f6}rg@b\u{fc}ro.test"
        );
        assert_eq!(
            addr("TO:j\u{f6}rg@x.test", "TO").unwrap(),
            "j\u{f6}rg@x.test"
        );
    }

    #[test]
    fn qualify_and_domain() {
        assert_eq!(qualify("root", "www.a.org"), "root@www.a.org");
        assert_eq!(qualify("a@B.Test", "www.a.org"), "a@B.Test");
        assert_eq!(qualify("", "www.a.org"), "");
        assert_eq!(domain_of("a@B.Test"), "b.test");
    }

    #[test]
    fn uxtext_for_utf8_orcpt() {
        assert_eq!(
            orcpt_decode("utf-8", "j\\x{F6}rg+\\x{2B}@x").as_deref(),
            Some("j\u{f6}rg++@x")
        );
        assert_eq!(
            orcpt_decode("UTF-8", "j\u{f6}rg@x").as_deref(),
            Some("j\u{f6}rg@x")
        );
        assert_eq!(orcpt_decode("rfc822", "a+2Bb").as_deref(), Some("a+b"));
        for bad in [
            "a\\x{}",
            "a\\x{110000}",
            "a\\x{D800}",
            "a\\x{zz}",
            "a\\x{41",
            "\\x{0A}",
        ] {
            assert_eq!(uxtext_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn xtext_and_notify() {
        assert_eq!(xtext_decode("a+2Bb").as_deref(), Some("a+b"));
        assert_eq!(xtext_decode("a+2"), None);
        assert_eq!(xtext_decode("a=b"), None);
        assert_eq!(
            valid_notify("success,delay").as_deref(),
            Some("SUCCESS,DELAY")
        );
        assert_eq!(valid_notify("NEVER,SUCCESS"), None);
    }
}
