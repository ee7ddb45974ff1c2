//! main.cf syntax: `name = value`, `#` comments, continuation lines that start with white
//! space, and `$name`, `${name}`, `$(name)`, `${name?text}`, `${name:text}` expansion.
//!
//! Follows postconf(5) "Syntax". A line that is neither blank, a comment, a continuation nor
//! `name = value` is a syntax error naming the file and line, as Postfix reports it.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

/// A main.cf syntax error: file, line number and Postfix's wording.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, line {}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Parse main.cf text into (name, raw value) pairs in file order; later settings win when
/// the caller inserts them into a map.
pub fn parse_main_cf(text: &str, file: &str) -> Result<Vec<(String, String, usize)>, SyntaxError> {
    let mut out: Vec<(String, String, usize)> = Vec::new();
    let mut logical: Option<(String, usize)> = None;
    let flush = |logical: &mut Option<(String, usize)>, out: &mut Vec<(String, String, usize)>| {
        if let Some((text, line)) = logical.take() {
            let (name, value) = split_assignment(&text).ok_or_else(|| SyntaxError {
                file: file.to_string(),
                line,
                message: format!("missing '=' after attribute name: \"{}\"", text.trim()),
            })?;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(SyntaxError {
                    file: file.to_string(),
                    line,
                    message: format!("syntax error in parameter name: \"{}\"", name),
                });
            }
            out.push((name, value, line));
        }
        Ok(())
    };
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with(|c: char| c.is_whitespace()) {
            match logical.as_mut() {
                Some((text, _)) => {
                    text.push(' ');
                    text.push_str(raw.trim());
                }
                None => {
                    return Err(SyntaxError {
                        file: file.to_string(),
                        line: lineno,
                        message: "logical line must not start with whitespace".to_string(),
                    });
                }
            }
            continue;
        }
        flush(&mut logical, &mut out)?;
        logical = Some((raw.trim_end().to_string(), lineno));
    }
    flush(&mut logical, &mut out)?;
    Ok(out)
}

fn split_assignment(text: &str) -> Option<(String, String)> {
    let eq = text.find('=')?;
    let name = text[..eq].trim().to_string();
    let value = text[eq + 1..].trim().to_string();
    Some((name, value))
}

/// Expand `$name` references in `value` using `lookup`; unknown names expand to nothing.
/// Recursion stops at a depth of 100, which only a self-referencing setting reaches.
pub fn expand(value: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    expand_depth(value, lookup, 0, &Cell::new(EXPAND_BUDGET))
}

/// How many bytes of values one expansion may go through before it stops expanding.
const EXPAND_BUDGET: usize = 1 << 22;

/// `budget` is the work left: each value expanded uses its length, and reaching the depth
/// limit uses it all; from then on nothing more is expanded. So a setting that refers to
/// itself more than once (`a = $a $a`), or a chain of settings that each name the next one
/// twice, costs bounded time and memory, not 2^100 steps.
fn expand_depth(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: usize,
    budget: &Cell<usize>,
) -> String {
    if depth > 100 {
        budget.set(0);
    }
    if budget.get() == 0 || !value.contains('$') {
        return value.to_string();
    }
    budget.set(budget.get().saturating_sub(value.len() + 1));
    let get = |name: &str| -> String {
        lookup(name)
            .map(|v| expand_depth(&v, lookup, depth + 1, budget))
            .unwrap_or_default()
    };
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let next = value[i..].find('$').map(|n| i + n).unwrap_or(bytes.len());
            out.push_str(&value[i..next]);
            i = next;
            continue;
        }
        i += 1;
        if i >= bytes.len() {
            out.push('$');
            break;
        }
        match bytes[i] {
            b'$' => {
                out.push('$');
                i += 1;
            }
            open @ (b'{' | b'(') => {
                let close = if open == b'{' { b'}' } else { b')' };
                // Find the matching close, allowing nesting.
                let mut level = 1;
                let mut j = i + 1;
                while j < bytes.len() {
                    if bytes[j] == open {
                        level += 1;
                    } else if bytes[j] == close {
                        level -= 1;
                        if level == 0 {
                            break;
                        }
                    }
                    j += 1;
                }
                let inner = &value[i + 1..j.min(bytes.len())];
                i = (j + 1).min(bytes.len());
                let split = inner.find(['?', ':']);
                match split {
                    Some(pos) => {
                        let name = &inner[..pos];
                        let text = &inner[pos + 1..];
                        let val = get(name);
                        let want_nonempty = inner.as_bytes()[pos] == b'?';
                        if want_nonempty != val.is_empty() {
                            out.push_str(&expand_depth(text, lookup, depth + 1, budget));
                        }
                    }
                    None => out.push_str(&get(inner)),
                }
            }
            _ => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if start == i {
                    out.push('$');
                } else {
                    out.push_str(&get(&value[start..i]));
                }
            }
        }
    }
    out
}

/// Parameter values as a map, for callers that only need lookup.
pub fn to_map(pairs: &[(String, String, usize)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(n, v, _)| (n.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        move |n| map.get(n).cloned()
    }

    #[test]
    fn continuation_comments_and_later_wins() {
        let text = "# comment\na = 1\nb = x,\n   y\n\n  # indented comment\na = 2\n";
        let pairs = parse_main_cf(text, "main.cf").unwrap();
        let map = to_map(&pairs);
        assert_eq!(map["a"], "2");
        assert_eq!(map["b"], "x, y");
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = parse_main_cf("a = 1\nthis is wrong\n", "/etc/postfix/main.cf").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(
            err.to_string(),
            "/etc/postfix/main.cf, line 2: missing '=' after attribute name: \"this is wrong\""
        );
        let err = parse_main_cf("  a = 1\n", "main.cf").unwrap_err();
        assert_eq!(err.line, 1);
    }

    #[test]
    fn expansion_forms() {
        let l = lookup_from(&[("a", "A"), ("b", "$a-B"), ("e", "")]);
        assert_eq!(expand("$a ${a} $(a) $b", &l), "A A A A-B");
        assert_eq!(expand("${a?yes}|${e?no}|${a:no}|${e:yes}", &l), "yes|||yes");
        assert_eq!(expand("$$a $missing.", &l), "$a .");
        assert_eq!(expand("${a?${b}}", &l), "A-B");
    }

    #[test]
    fn self_reference_terminates() {
        let l = lookup_from(&[("a", "x$a")]);
        assert!(expand("$a", &l).starts_with("xxx"));
    }

    /// Found by the fuzz target fuzz/fuzz_targets/main_cf.rs: a value naming itself twice
    /// took 2^100 steps (main.cf `mydomain = $mydomain, localhost.$mydomain` hung every
    /// program reading it).
    #[test]
    fn repeated_self_reference_terminates() {
        let l = lookup_from(&[("a", "$a $a"), ("b", "${a} $(b) ${b?$b}")]);
        assert!(expand("$a", &l).ends_with("$a $a"));
        assert!(expand("$b", &l).contains("$a $a"));
        let cfg =
            "mydomain = a.org $mydomain, localhost.$mydomain, $mydomain\nmyorigin = $mydomain\n";
        let pairs = parse_main_cf(cfg, "main.cf").unwrap();
        let map = to_map(&pairs);
        assert!(expand("$myorigin", &|n| map.get(n).cloned()).starts_with("a.org a.org"));
    }

    /// A chain of settings that each name the next one twice doubles at every step; the
    /// expansion stops within its budget instead of building a 2^60-byte value.
    #[test]
    fn doubling_chain_is_bounded() {
        let names: Vec<String> = (0..=60).map(|i| format!("p{}", i)).collect();
        let pairs: Vec<(String, String)> = (0..60)
            .map(|i| {
                (
                    names[i].clone(),
                    format!("${} ${}", names[i + 1], names[i + 1]),
                )
            })
            .chain(std::iter::once((names[60].clone(), "x".to_string())))
            .collect();
        let map: HashMap<String, String> = pairs.into_iter().collect();
        let out = expand("$p0", &|n| map.get(n).cloned());
        assert!(out.starts_with("x x x"), "{}", &out[..20]);
        assert!(out.len() < 4 * EXPAND_BUDGET, "{} bytes", out.len());
        assert!(
            out.contains('$'),
            "expansion stopped: the rest is left as written"
        );
    }
}
