//! `hash:` (and `btree:`) tables: Postern's own indexed file `NAME.db`, built by `postmap`
//! and `postalias`/`newaliases` from the source file `NAME`.
//!
//! Format (see spool-layout.md): the 8-byte magic `PSTRNDB1`, then for each entry a
//! little-endian u32 key length, the key, a u32 value length, the value. Keys are stored
//! lower-cased, as Postfix folds them. The file is read whole into memory and re-read when its
//! inode, size or mtime change, so a rebuilt table takes effect without a restart. The file is
//! written to a temporary name and renamed into place, so readers never see half a table.
//! A Berkeley DB file left by Postfix is recognised and the error says to rebuild it.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Table, TableError};

const MAGIC: &[u8; 8] = b"PSTRNDB1";

type Stamp = (u64, u64, i64, i64);

struct Loaded {
    stamp: Stamp,
    map: Arc<HashMap<String, String>>,
}

/// An open hash table; the file is (re)loaded on demand.
pub struct HashTable {
    spec: String,
    db: PathBuf,
    cache: Mutex<Option<Loaded>>,
}

/// The indexed file for a source file: `NAME.db`.
pub fn db_path(source: &Path) -> PathBuf {
    let mut s = source.as_os_str().to_owned();
    s.push(".db");
    PathBuf::from(s)
}

impl HashTable {
    pub fn open(kind: &str, name: &str) -> HashTable {
        HashTable {
            spec: format!("{}:{}", kind, name),
            db: db_path(Path::new(name)),
            cache: Mutex::new(None),
        }
    }

    fn unavailable(&self, reason: String) -> TableError {
        TableError::Unavailable {
            table: self.spec.clone(),
            reason,
        }
    }

    fn current(&self) -> Result<Arc<HashMap<String, String>>, TableError> {
        let meta = fs::metadata(&self.db).map_err(|e| {
            self.unavailable(format!(
                "open database {}: {}",
                self.db.display(),
                io_text(&e)
            ))
        })?;
        let stamp = (meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = cache.as_ref()
            && l.stamp == stamp
        {
            return Ok(l.map.clone());
        }
        let data = fs::read(&self.db).map_err(|e| {
            self.unavailable(format!(
                "open database {}: {}",
                self.db.display(),
                io_text(&e)
            ))
        })?;
        let map = Arc::new(decode(&data).map_err(|why| {
            self.unavailable(format!("open database {}: {}", self.db.display(), why))
        })?);
        *cache = Some(Loaded {
            stamp,
            map: map.clone(),
        });
        Ok(map)
    }
}

impl Table for HashTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, TableError> {
        let map = self.current()?;
        Ok(map.get(&key.to_lowercase()).cloned())
    }

    fn spec(&self) -> &str {
        &self.spec
    }
}

/// The text Postfix prints for an errno (without Rust's " (os error N)" suffix).
pub fn io_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn decode(data: &[u8]) -> Result<HashMap<String, String>, String> {
    Ok(decode_ordered(data)?.into_iter().collect())
}

/// Every entry of the indexed file for `source`, in stored order (for `postmap -s`, `-d`,
/// `-i`). The error text names the file, as Postfix's `open database` errors do.
pub fn read_entries(source: &Path) -> Result<Vec<(String, String)>, String> {
    let db = db_path(source);
    let data =
        fs::read(&db).map_err(|e| format!("open database {}: {}", db.display(), io_text(&e)))?;
    decode_ordered(&data).map_err(|why| format!("open database {}: {}", db.display(), why))
}

fn decode_ordered(data: &[u8]) -> Result<Vec<(String, String)>, String> {
    if data.len() >= 16
        && (data[12..16] == [0x61, 0x15, 0x06, 0x00] || data[12..16] == [0x00, 0x06, 0x15, 0x61])
    {
        return Err(
            "this is a Berkeley DB file from Postfix; rebuild it with postmap or newaliases".into(),
        );
    }
    if data.len() < 8 || &data[..8] != MAGIC {
        return Err("not a Postern indexed table; rebuild it with postmap or newaliases".into());
    }
    let mut map = Vec::new();
    let mut pos = 8;
    let take = |pos: &mut usize| -> Result<String, String> {
        if *pos + 4 > data.len() {
            return Err("truncated table".into());
        }
        let n = u32::from_le_bytes([data[*pos], data[*pos + 1], data[*pos + 2], data[*pos + 3]])
            as usize;
        *pos += 4;
        if *pos + n > data.len() {
            return Err("truncated table".into());
        }
        let s = String::from_utf8_lossy(&data[*pos..*pos + n]).into_owned();
        *pos += n;
        Ok(s)
    };
    while pos < data.len() {
        let k = take(&mut pos)?;
        let v = take(&mut pos)?;
        map.push((k, v));
    }
    Ok(map)
}

/// Write `entries` as the indexed file for `source` (atomically: temporary file, fsync,
/// rename). Later duplicates win, as with Postfix (which warns about them).
pub fn build(source: &Path, entries: &[(String, String)]) -> io::Result<PathBuf> {
    let db = db_path(source);
    let tmp = {
        let mut s = db.as_os_str().to_owned();
        s.push(format!(".tmp{}", std::process::id()));
        PathBuf::from(s)
    };
    let mut buf = Vec::with_capacity(8 + entries.len() * 32);
    buf.extend_from_slice(MAGIC);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ordered: Vec<(String, String)> = Vec::new();
    for (k, v) in entries {
        let k = k.to_lowercase();
        match seen.get(&k) {
            Some(&i) => ordered[i].1 = v.clone(),
            None => {
                seen.insert(k.clone(), ordered.len());
                ordered.push((k, v.clone()));
            }
        }
    }
    for (k, v) in &ordered {
        buf.extend_from_slice(&(k.len() as u32).to_le_bytes());
        buf.extend_from_slice(k.as_bytes());
        buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
        buf.extend_from_slice(v.as_bytes());
    }
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        fs::rename(&tmp, &db)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|_| db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_lookup_and_reload() {
        let dir = std::env::temp_dir().join(format!("postern-hash-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("aliases");
        let t = HashTable::open("hash", &src.display().to_string());
        assert!(matches!(t.lookup("x"), Err(TableError::Unavailable { .. })));
        build(
            &src,
            &[
                ("Postmaster".into(), "root".into()),
                ("a".into(), "1".into()),
                ("a".into(), "2".into()),
            ],
        )
        .unwrap();
        assert_eq!(t.lookup("postmaster").unwrap().as_deref(), Some("root"));
        assert_eq!(t.lookup("POSTMASTER").unwrap().as_deref(), Some("root"));
        assert_eq!(t.lookup("a").unwrap().as_deref(), Some("2"));
        assert_eq!(t.lookup("nobody-here").unwrap(), None);
        build(&src, &[("b".into(), "3".into())]).unwrap();
        assert_eq!(
            t.lookup("b").unwrap().as_deref(),
            Some("3"),
            "rebuilt table is re-read"
        );
        assert_eq!(t.lookup("a").unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn foreign_files_are_errors_not_misses() {
        let dir = std::env::temp_dir().join(format!("postern-hashbad-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("map");
        let mut bdb = vec![0u8; 64];
        bdb[12..16].copy_from_slice(&[0x61, 0x15, 0x06, 0x00]);
        fs::write(db_path(&src), &bdb).unwrap();
        let t = HashTable::open("hash", &src.display().to_string());
        let e = t.lookup("k").unwrap_err().to_string();
        assert!(e.contains("Berkeley DB"), "{}", e);
        fs::write(db_path(&src), b"PSTRNDB1\x05\x00\x00\x00ab").unwrap();
        assert!(t.lookup("k").unwrap_err().to_string().contains("truncated"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
