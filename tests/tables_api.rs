//! The public table API as the servers use it: `tables::open` for every type in
//! `tables::registry::TYPES`, reload after the source file changes, and a broken table answering every
//! lookup (from several threads) with a TableError rather than "not found" or a crash.

use std::sync::Arc;

use postern::tables::{self, TableError, TableList};

fn tmp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("postern-tapi-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn types_list_is_exactly_what_open_accepts() {
    assert_eq!(
        tables::registry::names().collect::<Vec<_>>().join(" "),
        "btree cidr environ fail hash inline internal mysql pcre proxy regexp static texthash unix"
    );
    for spec in [
        "cdb:/x",
        "ldap:/x",
        "pgsql:/x",
        "lmdb:/x",
        "unix:shadow.byname",
    ] {
        assert!(
            matches!(tables::open(spec), Err(TableError::UnsupportedType { .. })),
            "{}",
            spec
        );
    }
}

#[test]
fn edited_files_take_effect_without_reopening() {
    let d = tmp("reload");
    for (kind, first, second, key) in [
        ("regexp", "/^a/ one\n", "/^a/ two\n", "abc"),
        ("pcre", "/^a/ one\n", "/^a/ two\n", "abc"),
        ("cidr", "10.0.0.0/8 one\n", "10.0.0.0/8 two\n", "10.0.0.1"),
        ("texthash", "abc one\n", "abc two\n", "abc"),
    ] {
        let p = d.join(kind);
        std::fs::write(&p, first).unwrap();
        let t = tables::open(&format!("{}:{}", kind, p.display())).unwrap();
        assert_eq!(t.lookup(key).unwrap().as_deref(), Some("one"), "{}", kind);
        std::fs::write(&p, second).unwrap();
        assert_eq!(t.lookup(key).unwrap().as_deref(), Some("two"), "{}", kind);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn broken_table_fails_every_lookup_from_every_thread() {
    let d = tmp("broken");
    let p = d.join("header_checks");
    std::fs::write(&p, "/^Subject: ok/ OK\n/^Subject: (bad/ REJECT\n").unwrap();
    let spec = format!("static:{{never}} regexp:{}", p.display());
    let list = TableList::open_list(&format!("regexp:{} {}", p.display(), spec)).unwrap();
    let list = Arc::new(list);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let list = list.clone();
            std::thread::spawn(move || {
                for n in 0..50 {
                    let e = list.lookup(&format!("Subject: {} {}", i, n)).unwrap_err();
                    assert!(matches!(e, TableError::Unavailable { .. }));
                    assert!(e.to_string().contains("line 2: invalid pattern"), "{}", e);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    std::fs::write(&p, "/^Subject: ok/ OK\n").unwrap();
    assert_eq!(list.lookup("Subject: ok").unwrap().as_deref(), Some("OK"));
    assert_eq!(
        list.lookup("Subject: other").unwrap().as_deref(),
        Some("never")
    );
    std::fs::remove_dir_all(&d).unwrap();
}
