//! `inline:{ key=value, { key = text, with commas } }` (Postfix 3.x dict_inline): a small
//! table written in main.cf itself. Keys are folded to lower case; white space around keys
//! and values is removed; an element in braces may contain commas. A malformed spec (no
//! `=`, unbalanced braces) makes every lookup fail with an error quoting the spec.

use std::collections::HashMap;

use super::{Table, TableError};

pub struct InlineTable {
    spec: String,
    map: Result<HashMap<String, String>, String>,
}

/// Split at top-level commas, keeping braced groups whole.
fn elements(body: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut cur = String::new();
    for c in body.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth = depth.checked_sub(1).ok_or("unbalanced \"}\"")?;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if depth != 0 {
        return Err("missing \"}\"".into());
    }
    out.push(cur);
    Ok(out
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

fn parse(name: &str) -> Result<HashMap<String, String>, String> {
    let body = name
        .trim()
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or("need \"{ name=value... }\"")?;
    let mut map = HashMap::new();
    for el in elements(body)? {
        let inner = match el.strip_prefix('{') {
            Some(r) => r.strip_suffix('}').ok_or("missing \"}\"")?.trim(),
            None => el.as_str(),
        };
        let (k, v) = inner
            .split_once('=')
            .ok_or_else(|| format!("need name=value pair: \"{}\"", inner))?;
        let k = k.trim().to_lowercase();
        if k.is_empty() {
            return Err(format!("empty name in \"{}\"", inner));
        }
        map.entry(k).or_insert_with(|| v.trim().to_string());
    }
    Ok(map)
}

impl InlineTable {
    pub fn new(name: &str) -> InlineTable {
        InlineTable {
            spec: format!("inline:{}", name),
            map: parse(name),
        }
    }

    /// All entries (for `postmap -s`), or the parse error.
    pub fn entries(&self) -> Result<Vec<(String, String)>, TableError> {
        let mut v: Vec<_> = self
            .map
            .as_ref()
            .map_err(|e| self.error(e))?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort();
        Ok(v)
    }

    fn error(&self, why: &str) -> TableError {
        TableError::Unavailable {
            table: self.spec.clone(),
            reason: format!("{}: {}", self.spec, why),
        }
    }
}

impl Table for InlineTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        match &self.map {
            Ok(m) => Ok(m.get(&key.to_lowercase()).cloned()),
            Err(e) => Err(self.error(e)),
        }
    }

    fn spec(&self) -> &str {
        &self.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_and_braced_elements() {
        let t = InlineTable::new("{ a=b, C = d e ,{ x = y, z }, {k=} }");
        assert_eq!(t.lookup("a").unwrap().as_deref(), Some("b"));
        assert_eq!(t.lookup("c").unwrap().as_deref(), Some("d e"));
        assert_eq!(t.lookup("X").unwrap().as_deref(), Some("y, z"));
        assert_eq!(t.lookup("k").unwrap().as_deref(), Some(""));
        assert_eq!(t.lookup("none").unwrap(), None);
        assert_eq!(t.entries().unwrap().len(), 4);
    }

    #[test]
    fn malformed_specs_fail_every_lookup() {
        for bad in ["{ a=b, c }", "{ a=b", "a=b", "{ {a=b }", "{ =x }"] {
            let t = InlineTable::new(bad);
            let e = t.lookup("a").unwrap_err();
            assert!(matches!(e, TableError::Unavailable { .. }), "{}", bad);
        }
        assert_eq!(
            InlineTable::new("{ a=b, c }")
                .lookup("a")
                .unwrap_err()
                .to_string(),
            "inline:{ a=b, c } is unavailable. inline:{ a=b, c }: need name=value pair: \"c\""
        );
    }
}
