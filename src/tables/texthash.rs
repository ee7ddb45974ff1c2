//! `texthash:/file` (Postfix's dict_thash): the postmap source file itself, read into memory
//! without building an indexed file; `key value` lines as postmap(1) reads them. Keys are
//! folded to lower case; the first of duplicate keys wins. Reloaded when the file changes; a
//! syntax error (file and line) makes every lookup fail until the file is fixed. Logs nothing.

use std::collections::HashMap;
use std::sync::Arc;

use super::filecache::FileCache;
use super::{Table, TableError};

/// Parsed entries in file order plus an index.
pub struct Entries {
    pub list: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

/// Parse a texthash file's text (`file` names it in errors). Public for the fuzz target
/// fuzz/fuzz_targets/table_texthash.rs.
pub fn parse(text: &str, file: &str) -> Result<Entries, String> {
    let pairs = super::postmap_src::parse(text, file).map_err(|e| e.to_string())?;
    let mut list = Vec::new();
    let mut index = HashMap::new();
    for (k, v) in pairs {
        let k = k.to_lowercase();
        if !index.contains_key(&k) {
            index.insert(k.clone(), list.len());
            list.push((k, v));
        }
    }
    Ok(Entries { list, index })
}

pub struct TextHashTable {
    cache: FileCache<Entries>,
}

impl TextHashTable {
    pub fn open(file: &str) -> TextHashTable {
        TextHashTable {
            cache: FileCache::new(format!("texthash:{}", file), file, parse),
        }
    }

    /// Every entry, for `postmap -s`.
    pub fn entries(&self) -> Result<Arc<Entries>, TableError> {
        self.cache.get()
    }
}

impl Table for TextHashTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        let e = self.cache.get()?;
        Ok(e.index
            .get(&key.to_lowercase())
            .map(|&i| e.list[i].1.clone()))
    }

    fn spec(&self) -> &str {
        self.cache.spec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_source_directly_and_reloads() {
        let dir = std::env::temp_dir().join(format!("postern-th-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("access");
        std::fs::write(
            &p,
            "# c\nExample.com OK\nexample.com REJECT\nbig REJECT too\n  big\n",
        )
        .unwrap();
        let t = TextHashTable::open(p.to_str().unwrap());
        assert_eq!(t.lookup("EXAMPLE.COM").unwrap().as_deref(), Some("OK"));
        assert_eq!(t.lookup("big").unwrap().as_deref(), Some("REJECT too big"));
        assert_eq!(t.lookup("none").unwrap(), None);
        assert_eq!(t.entries().unwrap().list.len(), 2);
        std::fs::write(&p, "a b\nlonely\n").unwrap();
        let e = t.lookup("a").unwrap_err().to_string();
        assert!(e.contains(&format!("{}, line 2:", p.display())), "{}", e);
        std::fs::write(&p, "example.com DISCARD\n").unwrap();
        assert_eq!(t.lookup("example.com").unwrap().as_deref(), Some("DISCARD"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
