//! `pcre:/file` tables (pcre_table(5)): the same rule syntax as `regexp:` (see regexp.rs),
//! with Perl-style patterns compiled by the `regex` crate instead of libpcre.
//!
//! Flags (each toggles): `i` case-insensitive (on by default), `m` multi-line, `s` dot
//! matches newline, `x` ignore white space and `#` comments in the pattern, `U` ungreedy,
//! `A` anchored at the start of the key. `E` (dollar matches only at the very end) is always
//! in effect with the regex crate, and `X` (unknown escapes are errors) likewise, so both are
//! accepted. PCRE features the regex crate lacks (look-around, back-references, recursion,
//! possessive quantifiers) make the pattern invalid: a load error naming the file and line.
//!
//! Only the flags are here: `regexp` (the rule engine) builds the pattern and words its
//! errors, so this module never imports it back.

use regex::RegexBuilder;

/// The regex builder for a pcre_table pattern with its flags; an unknown flag is an error.
pub fn builder(pat: &str, flags: &str) -> Result<RegexBuilder, String> {
    let (mut icase, mut multi, mut dotall, mut ext, mut ungreedy, mut anchored) =
        (true, false, false, false, false, false);
    for f in flags.chars() {
        match f {
            'i' => icase = !icase,
            'm' => multi = !multi,
            's' => dotall = !dotall,
            'x' => ext = !ext,
            'U' => ungreedy = !ungreedy,
            'A' => anchored = !anchored,
            'E' | 'X' => {}
            _ => return Err(format!("unknown pcre option \"{}\" in \"{}\"", f, flags)),
        }
    }
    let anchored_pat;
    let source = if anchored {
        anchored_pat = format!(r"\A(?:{})", pat);
        &anchored_pat
    } else {
        pat
    };
    let mut b = RegexBuilder::new(source);
    b.case_insensitive(icase)
        .multi_line(multi)
        .dot_matches_new_line(dotall)
        .ignore_whitespace(ext)
        .swap_greed(ungreedy);
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(pat: &str, flags: &str) -> Result<regex::Regex, String> {
        builder(pat, flags).map(|b| b.build().unwrap())
    }

    #[test]
    fn flags() {
        assert!(compile("abc", "").unwrap().is_match("xABCx"));
        assert!(!compile("abc", "i").unwrap().is_match("ABC"));
        assert!(compile("a b c", "x").unwrap().is_match("abc"));
        assert!(!compile("b", "A").unwrap().is_match("ab"));
        assert!(compile("a.b", "s").unwrap().is_match("a\nb"));
        assert!(!compile("a.b", "").unwrap().is_match("a\nb"));
        assert!(compile("^b$", "m").unwrap().is_match("a\nb\nc"));
        let u = compile("(a+)", "U").unwrap();
        assert_eq!(&u.captures("aaa").unwrap()[1], "a");
        assert!(compile("a", "EX").is_ok());
        assert_eq!(
            compile("a", "q").unwrap_err(),
            "unknown pcre option \"q\" in \"q\""
        );
    }
}
