//! `regexp:/file` tables (regexp_table(5)), and the rule engine that `pcre:` shares.
//!
//! Each logical line is `/pattern/flags result`, `!/pattern/flags result`, `if /pattern/flags`
//! (also `if !/pattern/`) or `endif`; `if` blocks nest. The first rule that matches the whole
//! lookup key (a search, not an anchored match) gives the result, with `$1`..`$9`, `${n}`
//! replaced by the captured text (empty when the group did not take part) and `$$` by `$`.
//! Any non-alphanumeric character may delimit a pattern; `\` escapes it inside.
//!
//! Patterns are compiled with the `regex` crate. regexp flags: `i` toggles case-insensitive
//! matching (on by default), `m` toggles multi-line mode (off; without it `.` also matches a
//! newline, as POSIX regexec without REG_NEWLINE), `x` toggles POSIX extended
//! syntax (on); basic syntax (`x` given) is not available and is a load error. A syntax error
//! or an invalid pattern is a load error naming the file and line (`regexp map FILE, line N:
//! ...`): the table then answers every lookup with that error. Security role: patterns come
//! from the administrator; the `regex` crate runs in linear time, so a key from a client
//! cannot make a lookup slow. Logs nothing.

use std::sync::Arc;

use regex::{Regex, RegexBuilder};

use super::filecache::{FileCache, logical_lines};
use super::{Table, TableError};

/// Which manual page's flags apply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dialect {
    Regexp,
    Pcre,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Regexp => "regexp",
            Dialect::Pcre => "pcre",
        }
    }
}

#[derive(Debug)]
enum Part {
    Text(String),
    Group(usize),
}

#[derive(Debug)]
enum Rule {
    Match {
        re: Regex,
        negate: bool,
        result: Vec<Part>,
    },
    /// `if`: when it does not match, skip to the rule after index `end` (its endif).
    If {
        re: Regex,
        negate: bool,
        end: usize,
    },
    Endif,
}

/// A parsed rule file.
#[derive(Debug)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Parse a whole file; `file` names it in errors.
    pub fn parse(text: &str, file: &str, dialect: Dialect) -> Result<Rules, String> {
        let mut rules = Vec::new();
        let mut open_ifs: Vec<(usize, usize)> = Vec::new();
        for (line, t) in logical_lines(text) {
            let err = |m: String| format!("{} map {}, line {}: {}", dialect.name(), file, line, m);
            let word = t.split_whitespace().next().unwrap_or("");
            if word.eq_ignore_ascii_case("endif") {
                if t.len() > word.len() {
                    return Err(err("extra text after \"endif\"".into()));
                }
                let Some((idx, _)) = open_ifs.pop() else {
                    return Err(err("\"endif\" without a matching \"if\"".into()));
                };
                let here = rules.len();
                if let Rule::If { end, .. } = &mut rules[idx] {
                    *end = here;
                }
                rules.push(Rule::Endif);
                continue;
            }
            if word.eq_ignore_ascii_case("if") && t.len() > 2 {
                let (re, negate, rest) = pattern(t[2..].trim_start(), dialect).map_err(err)?;
                if !rest.is_empty() {
                    return Err(err(format!(
                        "extra text after \"if\" pattern: \"{}\"",
                        rest
                    )));
                }
                open_ifs.push((rules.len(), line));
                rules.push(Rule::If {
                    re,
                    negate,
                    end: usize::MAX,
                });
                continue;
            }
            let (re, negate, rest) = pattern(&t, dialect).map_err(err)?;
            if rest.is_empty() {
                return Err(err(format!("no result text after the pattern: \"{}\"", t)));
            }
            let result = template(rest, &re, negate).map_err(err)?;
            rules.push(Rule::Match { re, negate, result });
        }
        if let Some((_, line)) = open_ifs.pop() {
            return Err(format!(
                "{} map {}, line {}: \"if\" without a matching \"endif\"",
                dialect.name(),
                file,
                line
            ));
        }
        Ok(Rules { rules })
    }

    /// The first matching rule's expanded result.
    pub fn lookup(&self, key: &str) -> Option<String> {
        let mut i = 0;
        while i < self.rules.len() {
            match &self.rules[i] {
                Rule::If { re, negate, end } => {
                    if re.is_match(key) == *negate {
                        i = *end;
                    }
                }
                Rule::Endif => {}
                Rule::Match {
                    re,
                    negate: true,
                    result,
                } => {
                    if !re.is_match(key) {
                        return Some(expand(result, None));
                    }
                }
                Rule::Match {
                    re,
                    negate: false,
                    result,
                } => {
                    if let Some(caps) = re.captures(key) {
                        return Some(expand(result, Some(&caps)));
                    }
                }
            }
            i += 1;
        }
        None
    }
}

fn expand(parts: &[Part], caps: Option<&regex::Captures>) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Text(s) => out.push_str(s),
            Part::Group(n) => {
                if let Some(m) = caps.and_then(|c| c.get(*n)) {
                    out.push_str(m.as_str());
                }
            }
        }
    }
    out
}

/// Split `!/pattern/flags rest` and compile the pattern.
fn pattern(t: &str, dialect: Dialect) -> Result<(Regex, bool, &str), String> {
    let (negate, body) = match t.strip_prefix('!') {
        Some(b) => (true, b.trim_start()),
        None => (false, t),
    };
    let delim = body
        .chars()
        .next()
        .filter(|c| !c.is_alphanumeric() && !c.is_whitespace())
        .ok_or_else(|| format!("expected /pattern/ at \"{}\"", t))?;
    let inner = &body[delim.len_utf8()..];
    let mut end = None;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == delim {
            end = Some(i);
            break;
        }
    }
    let end = end.ok_or_else(|| format!("missing closing \"{}\" in \"{}\"", delim, t))?;
    let pat = &inner[..end];
    let after = &inner[end + delim.len_utf8()..];
    let flags_len = after.find(char::is_whitespace).unwrap_or(after.len());
    let flags = &after[..flags_len];
    let rest = after[flags_len..].trim();
    let re = match dialect {
        Dialect::Regexp => regexp_compile(pat, flags)?,
        Dialect::Pcre => pcre_compile(pat, flags)?,
    };
    Ok((re, negate, rest))
}

fn regexp_compile(pat: &str, flags: &str) -> Result<Regex, String> {
    let mut icase = true;
    let mut extended = true;
    let mut multi = false;
    for f in flags.chars() {
        match f {
            'i' => icase = !icase,
            'x' => extended = !extended,
            'm' => multi = !multi,
            _ => return Err(format!("unknown regexp option \"{}\" in \"{}\"", f, flags)),
        }
    }
    if !extended {
        return Err(format!(
            "/{}/{}: basic regular expressions (flag x) are not supported; use extended syntax",
            pat, flags
        ));
    }
    // POSIX: without REG_NEWLINE (flag m) `.` also matches a newline, which a multi-line
    // header (looked up as one key) contains.
    let mut b = RegexBuilder::new(pat);
    b.case_insensitive(icase)
        .multi_line(multi)
        .dot_matches_new_line(!multi);
    build(&b, pat)
}

/// Compile a pcre_table pattern (flags in `pcre`).
fn pcre_compile(pat: &str, flags: &str) -> Result<Regex, String> {
    build(&super::pcre::builder(pat, flags)?, pat)
}

/// Compile, turning the regex crate's multi-line message into one line.
pub fn build(b: &RegexBuilder, pat: &str) -> Result<Regex, String> {
    b.build().map_err(|e| {
        let text = e.to_string();
        let why = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("error:"))
            .unwrap_or(text.lines().last().unwrap_or(""))
            .trim()
            .to_string();
        format!("invalid pattern /{}/: {}", pat, why)
    })
}

/// Parse a result text into literal parts and `$n` references; check the group numbers.
fn template(text: &str, re: &Regex, negate: bool) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (num, used) = if let Some(b) = after.strip_prefix('{') {
            let close = b
                .find('}')
                .ok_or_else(|| format!("missing \"}}\" in \"{}\"", text))?;
            let n: usize = b[..close]
                .parse()
                .map_err(|_| format!("bad substitution \"${{{}}}\"", &b[..close]))?;
            (Some(n), close + 2)
        } else if after.starts_with('$') {
            lit.push('$');
            (None, 1)
        } else {
            let digits = after.chars().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                lit.push('$');
                (None, 0)
            } else {
                (after[..digits].parse().ok(), digits)
            }
        };
        if let Some(n) = num {
            if negate {
                return Err(format!(
                    "\"${}\" in the result of a negated pattern (nothing is captured)",
                    n
                ));
            }
            if n == 0 || n >= re.captures_len() {
                return Err(format!("out of range replacement index \"${}\"", n));
            }
            if !lit.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut lit)));
            }
            parts.push(Part::Group(n));
        }
        rest = &after[used..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(Part::Text(lit));
    }
    Ok(parts)
}

/// A `regexp:` or `pcre:` table, reloaded when its file changes.
pub struct RegexpTable {
    cache: FileCache<Rules>,
}

fn parse_regexp(text: &str, file: &str) -> Result<Rules, String> {
    Rules::parse(text, file, Dialect::Regexp)
}

fn parse_pcre(text: &str, file: &str) -> Result<Rules, String> {
    Rules::parse(text, file, Dialect::Pcre)
}

impl RegexpTable {
    pub fn open(dialect: Dialect, file: &str) -> RegexpTable {
        let parse = match dialect {
            Dialect::Regexp => parse_regexp,
            Dialect::Pcre => parse_pcre,
        };
        RegexpTable {
            cache: FileCache::new(format!("{}:{}", dialect.name(), file), file, parse),
        }
    }

    /// The parsed rules now (loading or reloading the file), for callers that want the
    /// load error without a lookup.
    pub fn rules(&self) -> Result<Arc<Rules>, TableError> {
        self.cache.get()
    }
}

impl Table for RegexpTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        Ok(self.cache.get()?.lookup(key))
    }

    fn spec(&self) -> &str {
        self.cache.spec()
    }
}

#[cfg(test)]
#[path = "regexp_tests.rs"]
mod tests;
