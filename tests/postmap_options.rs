//! postmap and postalias as programs: every option (-q, -q -, -s, -d, -d -, -i, -N, -n, -r,
//! -w), exit codes, duplicate warnings, syntax errors naming file and line, and -q on every
//! readable table type.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const POSTMAP: &str = env!("CARGO_BIN_EXE_postmap");
const POSTALIAS: &str = env!("CARGO_BIN_EXE_postalias");

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("postern-pm-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run PROG -c DIR ARGS with `input` on stdin.
fn run(prog: &str, dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(prog)
        .arg("-c")
        .arg(dir)
        .args(args)
        .env_remove("MAIL_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Output lines sorted: hash tables list their entries in the file's own order.
fn sorted(text: &str) -> Vec<String> {
    let mut l: Vec<String> = text.lines().map(str::to_string).collect();
    l.sort();
    l
}

/// postalias -s without the entries postalias adds (`@`, `YP_LAST_MODIFIED`,
/// `YP_MASTER_NAME`), sorted.
fn alias_entries(text: &str) -> Vec<String> {
    sorted(text)
        .into_iter()
        .filter(|l| !l.starts_with("@:") && !l.starts_with("YP_"))
        .collect()
}

fn file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn build_query_and_duplicates() {
    let d = tmp("build");
    let m = file(&d, "access", "a.test OK\nB.test REJECT\na.test DISCARD\n");
    let o = run(POSTMAP, &d, &[&m], "");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        err(&o),
        format!("postmap: warning: {}.db: duplicate entry: \"a.test\"\n", m)
    );
    let q = run(POSTMAP, &d, &["-q", "a.test", &m], "");
    assert_eq!((q.status.code(), out(&q).as_str()), (Some(0), "OK\n"));
    let q = run(POSTMAP, &d, &["-q", "b.TEST", &format!("hash:{}", m)], "");
    assert_eq!(out(&q), "REJECT\n");
    let miss = run(POSTMAP, &d, &["-q", "nope", &m], "");
    assert_eq!((miss.status.code(), out(&miss).as_str()), (Some(1), ""));

    let w = run(POSTMAP, &d, &["-w", &m], "");
    assert_eq!((w.status.code(), err(&w).as_str()), (Some(0), ""));
    assert_eq!(out(&run(POSTMAP, &d, &["-q", "a.test", &m], "")), "OK\n");
    let r = run(POSTMAP, &d, &["-r", &m], "");
    assert_eq!((r.status.code(), err(&r).as_str()), (Some(0), ""));
    assert_eq!(
        out(&run(POSTMAP, &d, &["-q", "a.test", &m], "")),
        "DISCARD\n"
    );
    for flag in ["-N", "-n"] {
        let o = run(POSTMAP, &d, &[flag, "-w", &m], "");
        assert_eq!(o.status.code(), Some(0), "{}", flag);
        assert_eq!(
            out(&run(POSTMAP, &d, &[flag, "-q", "b.test", &m], "")),
            "REJECT\n"
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn query_from_stdin_and_dump() {
    let d = tmp("stdin");
    let m = file(&d, "virtual", "x@a.test x\ny@a.test y1, y2\n");
    assert!(run(POSTMAP, &d, &[&m], "").status.success());
    let o = run(POSTMAP, &d, &["-q", "-", &m], "y@a.test\nnone\nx@a.test\n");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(out(&o), "y@a.test\ty1, y2\nx@a.test\tx\n");
    let none = run(POSTMAP, &d, &["-q", "-", &m], "a\nb\n");
    assert_eq!((none.status.code(), out(&none).as_str()), (Some(1), ""));
    let s = run(POSTMAP, &d, &["-s", &m], "");
    assert_eq!(s.status.code(), Some(0));
    assert_eq!(sorted(&out(&s)), ["x@a.test\tx", "y@a.test\ty1, y2"]);
    let th = run(POSTMAP, &d, &["-s", &format!("texthash:{}", m)], "");
    assert_eq!(out(&th), "x@a.test\tx\ny@a.test\ty1, y2\n");
    let re = run(POSTMAP, &d, &["-s", &format!("regexp:{}", m)], "");
    assert_eq!(re.status.code(), Some(1));
    assert!(
        err(&re).contains("sequence operation is not supported"),
        "{}",
        err(&re)
    );
    let both = run(POSTMAP, &d, &["-s", "-q", "x", &m], "");
    assert_eq!(
        err(&both),
        "postmap: fatal: specify only one of -s -q or -d\n"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn delete_and_incremental() {
    let d = tmp("del");
    let m = file(&d, "t", "a 1\nb 2\nc 3\n");
    assert!(run(POSTMAP, &d, &[&m], "").status.success());
    let del = run(POSTMAP, &d, &["-d", "B", &m], "");
    assert_eq!(del.status.code(), Some(0));
    assert_eq!(
        run(POSTMAP, &d, &["-q", "b", &m], "").status.code(),
        Some(1)
    );
    assert_eq!(out(&run(POSTMAP, &d, &["-q", "c", &m], "")), "3\n");
    assert_eq!(
        run(POSTMAP, &d, &["-d", "b", &m], "").status.code(),
        Some(1)
    );
    let many = run(POSTMAP, &d, &["-d", "-", &m], "a\nnothing\n");
    assert_eq!(many.status.code(), Some(0));
    assert_eq!(out(&run(POSTMAP, &d, &["-s", &m], "")), "c\t3\n");
    assert!(!Path::new(&format!("{}.db.tmp", m)).exists());

    let i = run(POSTMAP, &d, &["-i", &m], "d 4\nc 30\n");
    assert_eq!(i.status.code(), Some(0));
    assert_eq!(
        err(&i),
        format!("postmap: warning: {}.db: duplicate entry: \"c\"\n", m)
    );
    assert_eq!(
        sorted(&out(&run(POSTMAP, &d, &["-s", &m], ""))),
        ["c\t3", "d\t4"]
    );
    let ir = run(POSTMAP, &d, &["-i", "-r", &m], "c 30\n");
    assert_eq!((ir.status.code(), err(&ir).as_str()), (Some(0), ""));
    assert_eq!(out(&run(POSTMAP, &d, &["-q", "c", &m], "")), "30\n");
    let fresh = d.join("fresh").display().to_string();
    assert!(run(POSTMAP, &d, &["-i", &fresh], "k v\n").status.success());
    assert_eq!(out(&run(POSTMAP, &d, &["-q", "k", &fresh], "")), "v\n");
    // A bad line warns and is skipped; the good ones are added (Postfix's postmap.c).
    // Postfix names standard input "unknown_stream" here; Postern says "-".
    let bad = run(POSTMAP, &d, &["-i", &m], "lonely\ne 5\n");
    assert_eq!(
        (bad.status.code(), err(&bad)),
        (
            Some(0),
            "postmap: warning: -, line 1: expected format: key whitespace value\n".to_string()
        )
    );
    assert_eq!(out(&run(POSTMAP, &d, &["-q", "e", &m], "")), "5\n");
    let ro = run(POSTMAP, &d, &["-d", "x", &format!("cidr:{}", m)], "");
    assert!(err(&ro).contains("read-only"), "{}", err(&ro));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn errors_name_file_and_line() {
    let d = tmp("errs");
    // Postfix 2.10's postmap.c and readlline.c: each bad line is one warning, the rest of
    // the table is built, the exit status is 0.
    let m = file(
        &d,
        "broken",
        "  indented before any entry, and long enough\nok value\n\nlonely\nalias: style\n#c\nnext one\n  continued\n",
    );
    let o = run(POSTMAP, &d, &[&m], "");
    assert_eq!(
        (o.status.code(), err(&o)),
        (
            Some(0),
            format!(
                "postmap: warning: {m}: logical line must not start with whitespace: \"  indented before any entry, a...\"\n\
                 postmap: warning: {m}, line 4: expected format: key whitespace value\n\
                 postmap: warning: {m}, line 5: record is in \"key: value\" format; is this an alias file?\n"
            )
        )
    );
    let s = run(POSTMAP, &d, &["-s", &m], "");
    assert_eq!(
        sorted(&out(&s)),
        ["alias:\tstyle", "next\tone continued", "ok\tvalue"]
    );
    let re = file(&d, "re", "/ok/ fine\n/([a-z/ REJECT\n");
    let q = run(POSTMAP, &d, &["-q", "ok", &format!("regexp:{}", re)], "");
    assert_eq!(q.status.code(), Some(1));
    assert!(
        err(&q).starts_with(&format!(
            "postmap: fatal: regexp:{} is unavailable. regexp map {}, line 2: invalid pattern",
            re, re
        )),
        "{}",
        err(&q)
    );
    let missing = run(
        POSTMAP,
        &d,
        &["-q", "k", &d.join("none").display().to_string()],
        "",
    );
    assert!(
        err(&missing).contains("No such file or directory"),
        "{}",
        err(&missing)
    );
    // Postfix names the type only: dict_open(3) for a query, mkmap_open(3) for a build.
    let unknown = run(POSTMAP, &d, &["-q", "k", "nosuch:/x"], "");
    assert_eq!(
        (unknown.status.code(), err(&unknown)),
        (
            Some(1),
            "postmap: fatal: unsupported dictionary type: nosuch\n".to_string()
        )
    );
    let unknown = run(POSTMAP, &d, &["nosuch:/x"], "");
    assert_eq!(
        (unknown.status.code(), err(&unknown)),
        (
            Some(1),
            "postmap: fatal: unsupported map type: nosuch\n".to_string()
        )
    );
    let opt = run(POSTMAP, &d, &["-Z", &m], "");
    assert_eq!(opt.status.code(), Some(1));
    assert!(err(&opt).contains("usage: postmap"), "{}", err(&opt));
    let noargs = run(POSTMAP, &d, &[], "");
    assert!(err(&noargs).contains("usage: postmap"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn query_every_readable_type() {
    let d = tmp("types");
    let re = file(
        &d,
        "re",
        "if /@example\\.test$/\n/^(.+)@/ local $1\nendif\n!/@/ bare\n",
    );
    let pc = file(&d, "pc", "/^(?P<u>[a-z]+)\\+(\\w+)@/ ext ${2}\n");
    let ci = file(&d, "ci", "10.0.0.0/8 ten\n[2001:db8::]/32 doc\n");
    let th = file(&d, "th", "Key Value here\n");
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        (
            format!("regexp:{}", re),
            "Joe@EXAMPLE.test",
            Some("local Joe"),
        ),
        (format!("regexp:{}", re), "joe", Some("bare")),
        (format!("regexp:{}", re), "joe@other.test", None),
        (
            format!("pcre:{}", pc),
            "joe+lists@x.test",
            Some("ext lists"),
        ),
        (format!("cidr:{}", ci), "10.1.2.3", Some("ten")),
        (format!("cidr:{}", ci), "2001:db8::25", Some("doc")),
        (format!("cidr:{}", ci), "192.0.2.1", None),
        (format!("texthash:{}", th), "KEY", Some("Value here")),
        (
            "inline:{ a=b, { c = d, e } }".to_string(),
            "c",
            Some("d, e"),
        ),
        (
            "static:{ fixed text }".to_string(),
            "anything",
            Some("fixed text"),
        ),
        (
            "environ:x".to_string(),
            "POSTERN_TEST_VAR",
            Some("from env"),
        ),
        ("internal:x".to_string(), "k", None),
        (
            "unix:passwd.byname".to_string(),
            "root",
            Some("root:*:0:0::/root:"),
        ),
        (
            "proxy:unix:group.byname".to_string(),
            "root",
            Some("root:*:0:"),
        ),
    ];
    for (spec, key, want) in cases {
        let o = Command::new(POSTMAP)
            .args(["-c", &d.display().to_string(), "-q", key, &spec])
            .env("POSTERN_TEST_VAR", "from env")
            .output()
            .unwrap();
        match want {
            Some(v) => {
                assert_eq!(o.status.code(), Some(0), "{} {}: {}", spec, key, err(&o));
                assert!(out(&o).starts_with(v), "{} {}: {}", spec, key, out(&o));
            }
            None => assert_eq!(o.status.code(), Some(1), "{} {}: {}", spec, key, err(&o)),
        }
    }
    let fail = run(POSTMAP, &d, &["-q", "k", "fail:test"], "");
    assert_eq!(fail.status.code(), Some(1));
    assert_eq!(
        err(&fail),
        "postmap: fatal: fail:test: table lookup failed (fail: table)\n"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn postalias_options() {
    let d = tmp("alias");
    let a = file(
        &d,
        "aliases",
        "postmaster: root\nlist: a, b,\n  c\npostmaster: other\n",
    );
    let o = run(POSTALIAS, &d, &[&a], "");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        err(&o),
        format!(
            "postalias: warning: {}.db: duplicate entry: \"postmaster\"\n",
            a
        )
    );
    assert_eq!(
        out(&run(POSTALIAS, &d, &["-q", "POSTMASTER", &a], "")),
        "root\n"
    );
    let q = run(POSTALIAS, &d, &["-q", "-", &a], "list\nnone\n");
    assert_eq!(
        (q.status.code(), out(&q).as_str()),
        (Some(0), "list:\ta, b, c\n")
    );
    let s = run(POSTALIAS, &d, &["-s", &a], "");
    assert_eq!(
        alias_entries(&out(&s)),
        ["list:\ta, b, c", "postmaster:\troot"]
    );
    // Postfix's postalias adds the sendmail and NIS entries.
    let all = sorted(&out(&s));
    assert!(all.contains(&"@:\t@".to_string()), "{:?}", all);
    assert!(
        all.iter()
            .any(|l| l.starts_with("YP_LAST_MODIFIED:\t")
                && l.len() == "YP_LAST_MODIFIED:\t".len() + 10),
        "{:?}",
        all
    );
    assert!(
        run(POSTALIAS, &d, &["-i", &a], "extra: root\n")
            .status
            .success()
    );
    assert_eq!(out(&run(POSTALIAS, &d, &["-q", "extra", &a], "")), "root\n");
    assert_eq!(
        run(POSTALIAS, &d, &["-d", "extra", &a], "").status.code(),
        Some(0)
    );
    assert_eq!(
        run(POSTALIAS, &d, &["-q", "extra", &a], "").status.code(),
        Some(1)
    );
    // Postfix 2.10's postalias.c: bad lines warn and are skipped, the rest is built.
    let bad = file(
        &d,
        "bad",
        "ok: root\nno colon\nuser@remote.test: root\nempty:\nlast: root\n",
    );
    let b = run(POSTALIAS, &d, &[&bad], "");
    assert_eq!(
        (b.status.code(), err(&b)),
        (
            Some(0),
            format!(
                "postalias: warning: {bad}, line 2: need name:value pair\n\
                 postalias: warning: {bad}, line 3: name must be local\n\
                 postalias: warning: {bad}, line 4: need name:value pair\n"
            )
        )
    );
    assert_eq!(
        alias_entries(&out(&run(POSTALIAS, &d, &["-s", &bad], ""))),
        ["last:\troot", "ok:\troot"]
    );
    std::fs::remove_dir_all(&d).unwrap();
}
