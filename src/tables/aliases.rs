//! aliases(5) source syntax: `name: value, value`, `#` comments, continuation lines that
//! start with white space. Used by `postalias`/`newaliases` to build the indexed file and by
//! the local delivery agent to split a value into its targets.
//!
//! A malformed line is an error naming the file and line, as postalias reports it.

use std::fmt;
use std::path::Path;

/// A syntax error in an aliases file.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for AliasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, line {}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for AliasError {}

/// Parse an aliases file into (name, value) pairs; names keep their case (the table folds).
pub fn parse(text: &str, file: &str) -> Result<Vec<(String, String)>, AliasError> {
    Ok(parse_lines(text, file)?
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect())
}

/// Parse an aliases file into (name, value, line number) triples.
pub fn parse_lines(text: &str, file: &str) -> Result<Vec<(String, String, usize)>, AliasError> {
    let mut out: Vec<(String, String, usize)> = Vec::new();
    let mut cur: Option<(String, usize)> = None;
    let finish = |cur: &mut Option<(String, usize)>,
                  out: &mut Vec<(String, String, usize)>|
     -> Result<(), AliasError> {
        if let Some((text, line)) = cur.take() {
            let (name, value) = split_entry(&text).ok_or_else(|| AliasError {
                file: file.to_string(),
                line,
                message: format!("need name:value pair: \"{}\"", text.trim()),
            })?;
            out.push((name, value, line));
        }
        Ok(())
    };
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if raw.starts_with(|c: char| c.is_whitespace()) {
            match cur.as_mut() {
                Some((s, _)) => {
                    s.push(' ');
                    s.push_str(raw.trim());
                }
                None => {
                    return Err(AliasError {
                        file: file.into(),
                        line: i + 1,
                        message: "continuation line without a preceding entry".into(),
                    });
                }
            }
            continue;
        }
        finish(&mut cur, &mut out)?;
        cur = Some((raw.trim_end().to_string(), i + 1));
    }
    finish(&mut cur, &mut out)?;
    Ok(out)
}

fn split_entry(text: &str) -> Option<(String, String)> {
    let (name, value) = if let Some(rest) = text.strip_prefix('"') {
        let end = rest.find('"')?;
        let after = rest[end + 1..].trim_start().strip_prefix(':')?;
        (rest[..end].to_string(), after)
    } else {
        let colon = text.find(':')?;
        let name = text[..colon].trim();
        if name.contains(char::is_whitespace) {
            return None;
        }
        (name.to_string(), &text[colon + 1..])
    };
    if name.is_empty() {
        return None;
    }
    Some((name, value.trim().to_string()))
}

/// Split an alias value into its targets: commas separate, double quotes group
/// (`"|/usr/bin/prog -a"`).
pub fn targets(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                push_target(&mut out, &cur);
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    push_target(&mut out, &cur);
    out
}

fn push_target(out: &mut Vec<String>, raw: &str) {
    let t = raw.trim();
    if t.is_empty() {
        return;
    }
    let t = if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        &t[1..t.len() - 1]
    } else {
        t
    };
    out.push(t.to_string());
}

/// Read an aliases source file and build its indexed file; returns the entry count.
pub fn build_file(source: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(source)
        .map_err(|e| format!("open {}: {}", source.display(), super::hash::io_text(&e)))?;
    let entries = parse(&text, &source.display().to_string()).map_err(|e| e.to_string())?;
    super::hash_write::build(source, &entries).map_err(|e| {
        format!(
            "write {}: {}",
            super::hash::db_path(source).display(),
            super::hash::io_text(&e)
        )
    })?;
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_continuations() {
        let text = "# c\npostmaster: root\nlist: a, b,\n  c\n\"odd name\": x\nbin:\troot\n";
        let e = parse(text, "aliases").unwrap();
        assert_eq!(e[0], ("postmaster".into(), "root".into()));
        assert_eq!(e[1], ("list".into(), "a, b, c".into()));
        assert_eq!(e[2], ("odd name".into(), "x".into()));
        assert_eq!(e[3], ("bin".into(), "root".into()));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("a: b\nno colon here\n", "/etc/aliases").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("/etc/aliases, line 2:"));
        assert!(parse("  x: y\n", "a").is_err());
    }

    #[test]
    fn splits_targets() {
        assert_eq!(
            targets("root, \"|/bin/prog -a, b\", /var/log/x, :include:/etc/list"),
            vec![
                "root",
                "|/bin/prog -a, b",
                "/var/log/x",
                ":include:/etc/list"
            ]
        );
    }
}
