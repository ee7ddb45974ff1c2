//! The source side of postmap(1) and postalias(1): the `key value` table syntax (white space
//! separates key and value, `#` comments, lines starting with white space continue the
//! previous entry), as texthash tables read it and `build_file` builds `FILE.db` from it.
//! The commands postmap(1)/postalias(1)/newaliases(1) are in `crate::postmap`, which uses
//! this module (never the other way round).
//!
//! Security role: reads files named by the administrator; writes only `FILE.db` (atomically,
//! via `hash_write::build`). Logs nothing; errors name the file and line, as Postfix prints them.

use std::fmt;
use std::path::Path;

use super::{TableError, hash};

/// A syntax error in a postmap source file.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, line {}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for SourceError {}

/// Parse postmap source text into (key, value) pairs.
pub fn parse(text: &str, file: &str) -> Result<Vec<(String, String)>, SourceError> {
    Ok(parse_lines(text, file)?
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect())
}

/// Parse postmap source text into (key, value, line number) triples.
pub fn parse_lines(text: &str, file: &str) -> Result<Vec<(String, String, usize)>, SourceError> {
    let mut entries: Vec<(String, usize)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if raw.starts_with(|c: char| c.is_whitespace()) {
            match entries.last_mut() {
                Some((s, _)) => {
                    s.push(' ');
                    s.push_str(t);
                }
                None => {
                    return Err(SourceError {
                        file: file.into(),
                        line: i + 1,
                        message: "continuation line without a preceding entry".into(),
                    });
                }
            }
            continue;
        }
        entries.push((t.to_string(), i + 1));
    }
    entries
        .into_iter()
        .map(|(text, line)| match text.split_once(char::is_whitespace) {
            Some((k, v)) if !v.trim().is_empty() => Ok((k.to_string(), v.trim().to_string(), line)),
            _ => Err(SourceError {
                file: file.into(),
                line,
                message: format!("expected format: key whitespace value: \"{}\"", text),
            }),
        })
        .collect()
}

/// Build `FILE.db` from a postmap source file; returns the entry count.
pub fn build_file(source: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(source)
        .map_err(|e| format!("open {}: {}", source.display(), hash::io_text(&e)))?;
    let entries = parse(&text, &source.display().to_string()).map_err(|e| e.to_string())?;
    super::hash_write::build(source, &entries).map_err(|e| {
        format!(
            "write {}: {}",
            hash::db_path(source).display(),
            hash::io_text(&e)
        )
    })?;
    Ok(entries.len())
}

/// Look `key` up in the built table for `kind:file`.
pub fn query(kind: &str, file: &Path, key: &str) -> Result<Option<String>, TableError> {
    super::open(&format!("{}:{}", kind, file.display()))?.lookup(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_values_comments_continuations() {
        let e = parse(
            "# c\nexample.com  OK\nbig\tREJECT too\n  many\n\n",
            "access",
        )
        .unwrap();
        assert_eq!(
            e,
            vec![
                ("example.com".to_string(), "OK".to_string()),
                ("big".to_string(), "REJECT too many".to_string())
            ]
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("a b\nlonely\n", "/etc/postfix/access").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.to_string(),
            "/etc/postfix/access, line 2: expected format: key whitespace value: \"lonely\""
        );
        assert_eq!(parse("  x y\n", "f").unwrap_err().line, 1);
    }

    #[test]
    fn build_and_query() {
        let d = std::env::temp_dir().join(format!("postern-postmap-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let src = d.join("transport");
        std::fs::write(&src, "Example.COM smtp:[relay]\n").unwrap();
        assert_eq!(build_file(&src).unwrap(), 1);
        assert_eq!(
            query("hash", &src, "example.com").unwrap().as_deref(),
            Some("smtp:[relay]")
        );
        assert_eq!(query("hash", &src, "other").unwrap(), None);
        let missing = build_file(&d.join("nope")).unwrap_err();
        assert!(
            missing.ends_with("nope: No such file or directory"),
            "{}",
            missing
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
