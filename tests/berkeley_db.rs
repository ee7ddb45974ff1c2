//! hash: and btree: tables are Berkeley DB files shared with Postfix in both directions,
//! checked with libdb's own tools (db5.3-util's db5.3_dump / db5.3_load, or db-util's
//! db_dump / db_load): a file db_load writes as Postfix's postmap would (keys and values
//! with a trailing NUL) is read by postmap -q / postalias -q / -s; a file postmap,
//! postalias or newaliases writes holds, per db_dump, exactly the pairs Postfix writes.
//! Corrupt, empty, missing and wrong-type files are errors, never "not found".

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const POSTMAP: &str = env!("CARGO_BIN_EXE_postmap");
const POSTALIAS: &str = env!("CARGO_BIN_EXE_postalias");
const NEWALIASES: &str = env!("CARGO_BIN_EXE_newaliases");

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("postern-bdb-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("main.cf"), "").unwrap();
    d
}

/// The libdb tool `name` (dump or load), under its Debian db5.3-util or db-util name.
fn tool(name: &str) -> Option<String> {
    [format!("db5.3_{}", name), format!("db_{}", name)]
        .into_iter()
        .find(|t| {
            Command::new(t)
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

fn tools() -> Option<(String, String)> {
    let found = tool("dump").zip(tool("load"));
    common::require(
        found.is_some(),
        "db_dump/db_load missing (apt-get install db5.3-util)",
    )
    .then_some(())?;
    found
}

fn run(prog: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(prog)
        .arg("-c")
        .arg(dir)
        .args(args)
        .env_remove("MAIL_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{:02x}", c)).collect()
}

/// Write `db` with db_load from pairs of exact bytes.
fn db_load(load: &str, db: &Path, kind: &str, pairs: &[(&[u8], &[u8])]) {
    let mut text = format!("VERSION=3\nformat=bytevalue\ntype={}\nHEADER=END\n", kind);
    for (k, v) in pairs {
        text.push_str(&format!(" {}\n {}\n", hex(k), hex(v)));
    }
    text.push_str("DATA=END\n");
    let mut child = Command::new(load)
        .arg(db)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "{} {}", load, db.display());
}

/// The type and the sorted pairs of `db` according to db_dump.
fn db_dump(dump: &str, db: &Path) -> (String, Pairs) {
    let o = Command::new(dump).arg(db).output().unwrap();
    assert!(o.status.success(), "{}: {}", dump, err(&o));
    let text = out(&o);
    let kind = text
        .lines()
        .find_map(|l| l.strip_prefix("type="))
        .unwrap_or_default()
        .to_string();
    let data: Vec<Vec<u8>> = text
        .lines()
        .skip_while(|l| *l != "HEADER=END")
        .skip(1)
        .take_while(|l| *l != "DATA=END")
        .map(|l| {
            let h = l.trim();
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    let mut pairs: Pairs = data
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect();
    pairs.sort();
    (kind, pairs)
}

fn pair(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
    (k.as_bytes().to_vec(), v.as_bytes().to_vec())
}

#[test]
fn a_table_written_as_postfix_writes_it_is_read() {
    let Some((_, load)) = tools() else { return };
    let d = tmp("read");
    for kind in ["hash", "btree"] {
        let src = d.join(format!("map-{}", kind));
        let spec = format!("{}:{}", kind, src.display());
        db_load(
            &load,
            &d.join(format!("map-{}.db", kind)),
            kind,
            &[
                (b"postmaster\0", b"root\0"),
                (b"example.test\0", b"smtp:[relay.test]\0"),
            ],
        );
        let q = |args: &[&str]| run(POSTMAP, &d, args);
        let o = q(&["-q", "Postmaster", &spec]);
        assert_eq!(
            (o.status.code(), out(&o)),
            (Some(0), "root\n".into()),
            "{}",
            err(&o)
        );
        assert_eq!(
            out(&q(&["-q", "example.test", &spec])),
            "smtp:[relay.test]\n"
        );
        assert_eq!(q(&["-q", "absent", &spec]).status.code(), Some(1));
        assert_eq!(
            q(&["-n", "-q", "postmaster", &spec]).status.code(),
            Some(1),
            "-n looks only for keys without a NUL"
        );
        let mut s: Vec<String> = out(&q(&["-s", &spec])).lines().map(String::from).collect();
        s.sort();
        assert_eq!(s, ["example.test\tsmtp:[relay.test]", "postmaster\troot"]);
        let a = run(POSTALIAS, &d, &["-q", "postmaster", &spec]);
        assert_eq!(out(&a), "root\n");
    }
    // Keys written without a NUL (postmap -n, or other programs) are found too.
    let bare = d.join("bare");
    db_load(&load, &d.join("bare.db"), "hash", &[(b"k", b"v")]);
    let spec = format!("hash:{}", bare.display());
    assert_eq!(out(&run(POSTMAP, &d, &["-q", "K", &spec])), "v\n");
    assert_eq!(
        run(POSTMAP, &d, &["-N", "-q", "k", &spec]).status.code(),
        Some(1)
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn postmap_writes_what_postfix_writes() {
    let Some((dump, _)) = tools() else { return };
    let d = tmp("write");
    let src = d.join("access");
    std::fs::write(&src, "Key1.Test value one\nkey2 v2\n").unwrap();
    let db = d.join("access.db");
    for kind in ["hash", "btree"] {
        let o = run(POSTMAP, &d, &[&format!("{}:{}", kind, src.display())]);
        assert!(o.status.success(), "{}", err(&o));
        assert_eq!(
            db_dump(&dump, &db),
            (
                kind.to_string(),
                vec![pair("key1.test\0", "value one\0"), pair("key2\0", "v2\0")]
            )
        );
    }
    let o = run(POSTMAP, &d, &["-n", &format!("hash:{}", src.display())]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        db_dump(&dump, &db).1,
        vec![pair("key1.test", "value one"), pair("key2", "v2")]
    );
    // -i and -d change the file in place; db_dump sees the result.
    let mut child = Command::new(POSTMAP)
        .args([
            "-c",
            &d.display().to_string(),
            "-i",
            &src.display().to_string(),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"k3 three\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let del = run(POSTMAP, &d, &["-d", "key2", &src.display().to_string()]);
    assert_eq!(del.status.code(), Some(0), "{}", err(&del));
    assert_eq!(
        db_dump(&dump, &db).1,
        vec![pair("k3\0", "three\0"), pair("key1.test", "value one")]
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn newaliases_and_postalias_write_postfix_alias_databases() {
    let Some((dump, _)) = tools() else { return };
    let d = tmp("alias");
    let aliases = d.join("aliases");
    let other = d.join("other");
    std::fs::write(&aliases, "postmaster: root\nList: a, b,\n  c\n").unwrap();
    std::fs::write(&other, "x: y\n").unwrap();
    std::fs::write(
        d.join("main.cf"),
        format!(
            "myhostname = mx.example.test\nalias_database = hash:{}, btree:{}\n",
            aliases.display(),
            other.display()
        ),
    )
    .unwrap();
    let o = run(NEWALIASES, &d, &[]);
    assert!(o.status.success(), "{}", err(&o));
    let check = |db: &Path, kind: &str, want: Vec<(Vec<u8>, Vec<u8>)>| {
        let (t, pairs) = db_dump(&dump, db);
        assert_eq!(t, kind);
        let stamp = pairs
            .iter()
            .find(|(k, _)| k == b"YP_LAST_MODIFIED")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(
            stamp.len() == 10 && stamp.iter().all(u8::is_ascii_digit),
            "YP_LAST_MODIFIED {:?}",
            String::from_utf8_lossy(&stamp)
        );
        let rest: Pairs = pairs
            .into_iter()
            .filter(|(k, _)| k != b"YP_LAST_MODIFIED")
            .collect();
        assert_eq!(rest, want);
    };
    check(
        &d.join("aliases.db"),
        "hash",
        vec![
            pair("@\0", "@\0"),
            pair("YP_MASTER_NAME", "mx.example.test"),
            pair("list\0", "a, b, c\0"),
            pair("postmaster\0", "root\0"),
        ],
    );
    check(
        &d.join("other.db"),
        "btree",
        vec![
            pair("@\0", "@\0"),
            pair("YP_MASTER_NAME", "mx.example.test"),
            pair("x\0", "y\0"),
        ],
    );
    let q = run(
        POSTALIAS,
        &d,
        &["-q", "LIST", &aliases.display().to_string()],
    );
    assert_eq!(out(&q), "a, b, c\n");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_files_are_errors_not_misses() {
    let Some((_, load)) = tools() else { return };
    let d = tmp("bad");
    let src = d.join("map");
    let db = d.join("map.db");
    let spec = format!("hash:{}", src.display());
    let fatal = |args: &[&str], why: &str| {
        let o = run(POSTMAP, &d, args);
        assert_eq!(o.status.code(), Some(1), "{:?}", args);
        let want = format!("open database {}: {}", db.display(), why);
        // libdb writes its own diagnostics to standard error first, as under Postfix.
        let e = err(&o);
        let last = e.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("postmap: fatal: ") && last.contains(&want),
            "{:?}: {}",
            args,
            err(&o)
        );
    };
    fatal(&["-q", "k", &spec], "No such file or directory");
    fatal(&["-s", &spec], "No such file or directory");
    fatal(&["-d", "k", &spec], "No such file or directory");
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    fatal(&["-q", "k", &spec], "Invalid argument");
    fatal(&["-s", &spec], "Invalid argument");
    std::fs::write(&db, b"").unwrap();
    fatal(&["-q", "k", &spec], "Invalid argument");
    std::fs::remove_file(&db).unwrap();
    db_load(&load, &db, "btree", &[(b"k\0", b"v\0")]);
    fatal(&["-q", "k", &spec], "Invalid argument");
    let o = run(
        POSTMAP,
        &d,
        &["-q", "k", &format!("btree:{}", src.display())],
    );
    assert_eq!(out(&o), "v\n", "{}", err(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_server_reads_a_postfix_alias_database_and_defers_on_a_corrupt_one() {
    let Some((_, load)) = tools() else { return };
    let inst = common::Instance::new(&[]);
    let aliases = inst.etc.join("aliases");
    let db = inst.etc.join("aliases.db");
    std::fs::write(&db, vec![0u8; 4096]).unwrap();
    inst.start();
    let user = inst.user.clone();
    let mut c = inst.connect();
    c.reply();
    assert_eq!(c.cmd("helo localhost"), "250 www.a.org");
    assert_eq!(c.cmd("mail from:<a@b.test>"), "250 2.1.0 Ok");
    assert_eq!(
        c.cmd(&format!("rcpt to:<{}>", user)),
        format!("451 4.3.0 <{}>: Temporary lookup failure", user),
        "a corrupt table is a temporary error, not \"no such alias\""
    );
    let want = format!(
        "warning: hash:{} is unavailable. open database {}: Invalid argument",
        aliases.display(),
        db.display()
    );
    assert!(
        common::wait_for(10, || inst.log().contains(&want)),
        "{}",
        inst.log()
    );
    // The file as Postfix's postalias writes it: taken into use without a restart.
    std::fs::remove_file(&db).unwrap();
    db_load(
        &load,
        &db,
        "hash",
        &[
            (b"postmaster\0", format!("{}\0", user).as_bytes()),
            (b"@\0", b"@\0"),
            (b"YP_MASTER_NAME", b"old.example.test"),
        ],
    );
    assert_eq!(c.cmd(&format!("rcpt to:<{}>", user)), "250 2.1.5 Ok");
    assert_eq!(c.cmd("rcpt to:<postmaster>"), "250 2.1.5 Ok");
    assert_eq!(c.cmd("quit"), "221 2.0.0 Bye");
    inst.stop();
}
