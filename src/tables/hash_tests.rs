//! Tests of `hash:`/`btree:` tables (hash.rs, hash_write.rs) against real Berkeley DB
//! files: build, look up, reload, both key forms, errors.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use super::Table;
use super::TableError;
use super::hash::*;
use super::hash_write::{Writer, build};
use crate::sys::libdb::DbKind;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("postern-hash-{}-{}", tag, std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn build_lookup_and_reload() {
    let dir = dir("reload");
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
fn both_key_forms_and_sticky_choice() {
    let dir = dir("nulls");
    let src = dir.join("map");
    let mut w = Writer::create(DbKind::Btree, &src, DEFAULT_CREATE_BUFFER).unwrap();
    w.put_raw(b"with\0", b"one\0", true).unwrap();
    w.put_raw(b"without", b"zero", true).unwrap();
    w.finish().unwrap();
    let spec = src.display().to_string();
    let t = HashTable::open("btree", &spec);
    assert_eq!(t.lookup("without").unwrap().as_deref(), Some("zero"));
    assert_eq!(
        t.lookup("with").unwrap(),
        None,
        "after a hit without NUL only that form is tried, as in Postfix"
    );
    let t = HashTable::open("btree", &spec);
    assert_eq!(t.lookup("WITH").unwrap().as_deref(), Some("one"));
    let only0 = HashTable::open("btree", &spec).with_nulls(Nulls {
        one: false,
        zero: true,
    });
    assert_eq!(only0.lookup("with").unwrap(), None);
    let mut all = read_entries(DbKind::Btree, &src).unwrap();
    all.sort();
    assert_eq!(
        all,
        vec![
            ("with".to_string(), "one".to_string()),
            ("without".to_string(), "zero".to_string())
        ]
    );
    let wrong = HashTable::open("hash", &spec).lookup("with").unwrap_err();
    assert!(
        matches!(wrong, TableError::Unavailable { .. }),
        "a btree file opened as hash is an error: {}",
        wrong
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn foreign_and_corrupt_files_are_errors_not_misses() {
    let dir = dir("bad");
    let src = dir.join("map");
    let t = HashTable::open("hash", &src.display().to_string());
    fs::write(db_path(&src), b"PSTRNDB1\x05\x00\x00\x00ab").unwrap();
    let e = t.lookup("k").unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "hash:{} is unavailable. open database {}: ",
            src.display(),
            db_path(&src).display()
        )),
        "{}",
        e
    );
    fs::write(db_path(&src), vec![0u8; 8192]).unwrap();
    assert!(t.lookup("k").is_err());
    fs::write(db_path(&src), b"").unwrap();
    assert!(
        t.lookup("k").is_err(),
        "an empty file is not an empty table"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rebuild_keeps_mode_and_leaves_no_temporary_file() {
    let d = std::env::temp_dir().join(format!("postern-hashw-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    let src = d.join("t");
    build(&src, &[("a".into(), "1".into())]).unwrap();
    fs::set_permissions(db_path(&src), fs::Permissions::from_mode(0o640)).unwrap();
    build(&src, &[("b".into(), "2".into())]).unwrap();
    let m = fs::metadata(db_path(&src)).unwrap();
    assert_eq!(m.mode() & 0o777, 0o640);
    assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "only t.db");
    // An abandoned rebuild leaves the old table.
    let mut w = Writer::create(DbKind::Hash, &src, DEFAULT_CREATE_BUFFER).unwrap();
    w.put("c", "3", true).unwrap();
    drop(w);
    assert_eq!(
        read_entries(DbKind::Hash, &src).unwrap(),
        vec![("b".to_string(), "2".to_string())]
    );
    assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
    // In place: add, refuse a duplicate, delete either form.
    let mut w = Writer::update(DbKind::Hash, &src, DEFAULT_CREATE_BUFFER, false).unwrap();
    assert!(!w.put("b", "x", false).unwrap());
    w.set_nul(false);
    assert!(w.put("c", "3", false).unwrap());
    assert!(w.delete("b", true, true).unwrap());
    assert!(!w.delete("b", true, true).unwrap());
    assert!(!w.delete("c", true, false).unwrap(), "c has no NUL");
    w.finish().unwrap();
    assert_eq!(
        read_entries(DbKind::Hash, &src).unwrap(),
        vec![("c".to_string(), "3".to_string())]
    );
    let missing = Writer::update(DbKind::Hash, &d.join("none"), 1 << 20, false);
    assert_eq!(
        missing.err().map(|e| e.kind()),
        Some(io::ErrorKind::NotFound)
    );
    fs::write(d.join("empty.db"), b"").unwrap();
    let mut w = Writer::update(DbKind::Btree, &d.join("empty"), 1 << 20, true).unwrap();
    assert!(w.put("k", "v", false).unwrap());
    w.finish().unwrap();
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn readers_see_in_place_updates_and_never_a_half_built_table() {
    let d = dir("concurrent");
    let src = d.join("map");
    let spec = src.display().to_string();
    build(&src, &[("a".into(), "1".into())]).unwrap();
    let t = HashTable::open("hash", &spec);
    assert_eq!(t.lookup("a").unwrap().as_deref(), Some("1"));
    let mut w = Writer::update(DbKind::Hash, &src, DEFAULT_CREATE_BUFFER, false).unwrap();
    w.put("b", "2", false).unwrap();
    w.finish().unwrap();
    assert_eq!(
        t.lookup("b").unwrap().as_deref(),
        Some("2"),
        "the open file changed in place is opened again"
    );
    let full = |n: u32| -> Vec<(String, String)> {
        (0..200)
            .map(|i| (format!("k{}", i), format!("v{}", n)))
            .chain([("a".to_string(), "1".to_string())])
            .collect()
    };
    build(&src, &full(0)).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (src, stop) = (src.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 20 {
                build(&src, &full(n)).unwrap();
                n += 1;
            }
            n
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let spec = spec.clone();
            std::thread::spawn(move || {
                let t = HashTable::open("hash", &spec);
                for _ in 0..100 {
                    assert_eq!(t.lookup("a").unwrap().as_deref(), Some("1"));
                    assert!(
                        t.lookup("k199")
                            .unwrap()
                            .is_some_and(|v| v.starts_with('v'))
                    );
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() >= 20);
    fs::remove_dir_all(&d).unwrap();
}
