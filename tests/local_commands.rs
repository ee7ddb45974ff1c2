//! newaliases, postalias and postmap as programs: build, query, errors with file and line.

use std::path::PathBuf;
use std::process::{Command, Output};

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("postern-cmd-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(prog: &str, args: &[&str]) -> Output {
    Command::new(prog)
        .args(args)
        .env_remove("MAIL_CONFIG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn newaliases_builds_alias_database() {
    let d = tmp("newaliases");
    let aliases = d.join("aliases");
    std::fs::write(&aliases, "postmaster: root\nopenstack: os1,\n  os2\n").unwrap();
    std::fs::write(
        d.join("main.cf"),
        format!("alias_database = hash:{}\n", aliases.display()),
    )
    .unwrap();
    let ds = d.display().to_string();
    let o = run(env!("CARGO_BIN_EXE_newaliases"), &["-c", &ds]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.join("aliases.db").exists());
    let spec = format!("hash:{}", aliases.display());
    let q = run(env!("CARGO_BIN_EXE_postalias"), &["-q", "OpenStack", &spec]);
    assert_eq!(
        (q.status.code(), stdout(&q).as_str()),
        (Some(0), "os1, os2\n")
    );
    let q = run(
        env!("CARGO_BIN_EXE_postalias"),
        &["-q", "nobody-here", &spec],
    );
    assert_eq!((q.status.code(), stdout(&q).as_str()), (Some(1), ""));
    // MAIL_CONFIG works as -c does.
    std::fs::remove_file(d.join("aliases.db")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_newaliases"))
        .env("MAIL_CONFIG", &d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.join("aliases.db").exists());
}

#[test]
fn postalias_warns_with_file_and_line() {
    let d = tmp("postalias");
    let aliases = d.join("aliases");
    std::fs::write(&aliases, "a: b\nno colon here\n").unwrap();
    let o = run(
        env!("CARGO_BIN_EXE_postalias"),
        &[aliases.to_str().unwrap()],
    );
    // As Postfix's postalias.c: the bad line warns and is skipped, the rest is built.
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (
            Some(0),
            format!(
                "postalias: warning: {}, line 2: need name:value pair\n",
                aliases.display()
            )
        )
    );
    assert!(d.join("aliases.db").exists());
    let o = run(env!("CARGO_BIN_EXE_postalias"), &["cdb:/x"]);
    assert_eq!(o.status.code(), Some(1));
    // Postfix's mkmap_open(3) text.
    assert_eq!(stderr(&o), "postalias: fatal: unsupported map type: cdb\n");
    let o = run(env!("CARGO_BIN_EXE_postalias"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("usage"), "{}", stderr(&o));
}

#[test]
fn postmap_builds_and_queries() {
    let d = tmp("postmap");
    let access = d.join("access");
    std::fs::write(
        &access,
        "# clients\n10.0.0.1 REJECT go\n  away\nexample.com OK\n",
    )
    .unwrap();
    let path = access.to_str().unwrap();
    let o = run(env!("CARGO_BIN_EXE_postmap"), &[path]);
    assert!(o.status.success(), "{}", stderr(&o));
    let q = run(
        env!("CARGO_BIN_EXE_postmap"),
        &["-q", "10.0.0.1", &format!("hash:{}", path)],
    );
    assert_eq!(
        (q.status.code(), stdout(&q).as_str()),
        (Some(0), "REJECT go away\n")
    );
    // As Postfix's postmap.c: a bad line warns and is skipped.
    std::fs::write(&access, "lonely\n").unwrap();
    let o = run(env!("CARGO_BIN_EXE_postmap"), &[path]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (
            Some(0),
            format!(
                "postmap: warning: {}, line 1: expected format: key whitespace value\n",
                path
            )
        )
    );
    let o = run(
        env!("CARGO_BIN_EXE_postmap"),
        &[d.join("missing").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).ends_with("missing: No such file or directory\n"),
        "{}",
        stderr(&o)
    );
}
