//! mysql tables against the real MariaDB/MySQL server on 127.0.0.1:3306 (root, empty
//! password): each test loads etc/extmail-schema.sql into a database of its own (dropped
//! at the end) and checks the shipped examples, the legacy fields, every query expansion,
//! result_format, domain, multiple values, hostile keys, failover, UNIX sockets, errors,
//! a killed connection, connection reuse, postmap -q and smtpd's 451 on a table error.
//! Without a server the tests SKIP (and fail under CI).

mod common;
#[path = "common/inproc.rs"]
mod inproc;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};
use postern::tables::{self, Table, TableError};

const SOCKET: &str = "/run/mysqld/mysqld.sock";
static SEQ: AtomicUsize = AtomicUsize::new(0);

fn admin() -> Option<Conn> {
    let opts = OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(3306)
        .user(Some("root"))
        .prefer_socket(false);
    Conn::new(opts).ok()
}

/// A database of its own with the Extmail schema and test data, and a scratch directory
/// for .cf files; both removed on drop.
struct Db {
    name: String,
    dir: PathBuf,
    admin: Conn,
}

impl Db {
    fn new() -> Option<Db> {
        let admin = admin();
        if !common::require(
            admin.is_some(),
            "needs MariaDB/MySQL on 127.0.0.1:3306 (root, empty password)",
        ) {
            return None;
        }
        let mut admin = admin.unwrap();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("postern_t{}_{}_{}", std::process::id(), n, nanos);
        admin
            .query_drop(format!("CREATE DATABASE {}", name))
            .unwrap();
        admin.query_drop(format!("USE {}", name)).unwrap();
        let schema = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/etc/extmail-schema.sql"
        ))
        .unwrap();
        for stmt in common::sql_statements(&schema) {
            admin.query_drop(stmt).unwrap();
        }
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        Some(Db { name, dir, admin })
    }

    /// Write a .cf file connecting to this database over TCP (`more` settings after).
    fn cf(&self, file: &str, more: &str) -> String {
        self.cf_with("hosts = 127.0.0.1:3306\nuser = root\n", file, more)
    }

    fn cf_with(&self, conn: &str, file: &str, more: &str) -> String {
        let path = self.dir.join(file);
        let text = format!("{}dbname = {}\n{}\n", conn, self.name, more);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn table(&self, file: &str, more: &str) -> Box<dyn Table> {
        tables::open(&format!("mysql:{}", self.cf(file, more))).unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self
            .admin
            .query_drop(format!("DROP DATABASE {}", self.name));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn get(t: &dyn Table, key: &str) -> Option<String> {
    t.lookup(key).unwrap_or_else(|e| panic!("{}: {}", key, e))
}

/// A shipped example with its connection settings replaced by the test database's.
fn shipped(db: &Db, name: &str) -> Box<dyn Table> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("etc").join(name))
            .unwrap();
    let rest: String = text
        .lines()
        .filter(|l| {
            !["hosts", "user", "password", "dbname"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| format!("{}\n", l))
        .collect();
    db.table(name, &rest)
}

#[test]
fn shipped_extmail_examples() {
    let Some(db) = Db::new() else { return };
    let mailbox = shipped(&db, "mysql_virtual_mailbox_maps.cf");
    let domains = shipped(&db, "mysql_virtual_domains_maps.cf");
    let aliases = shipped(&db, "mysql_virtual_alias_maps.cf");
    assert_eq!(
        get(&*mailbox, "alice@example.com").as_deref(),
        Some("example.com/alice/Maildir/")
    );
    assert_eq!(
        get(&*mailbox, "Bob@Example.COM").as_deref(),
        Some("example.com/bob/Maildir/")
    );
    assert_eq!(get(&*mailbox, "carol@example.com"), None);
    assert_eq!(
        get(&*domains, "example.com").as_deref(),
        Some("example.com")
    );
    assert_eq!(get(&*domains, "example.org"), None);
    assert_eq!(
        get(&*aliases, "postmaster@example.com").as_deref(),
        Some("alice@example.com,bob@example.com")
    );
    // active = 0 hides a row.
    let mut admin = admin().unwrap();
    admin
        .query_drop(format!(
            "UPDATE {}.mailbox SET active = 0 WHERE username = 'bob@example.com'",
            db.name
        ))
        .unwrap();
    assert_eq!(get(&*mailbox, "bob@example.com"), None);
}

#[test]
fn legacy_fields() {
    let Some(db) = Db::new() else { return };
    let t = db.table(
        "legacy.cf",
        "table = mailbox\nselect_field = name\nwhere_field = username\n\
         additional_conditions = AND domain = 'example.com'",
    );
    assert_eq!(get(&*t, "alice@example.com").as_deref(), Some("Alice"));
    assert_eq!(get(&*t, "nobody@example.com"), None);
}

#[test]
fn every_query_expansion() {
    let Some(db) = Db::new() else { return };
    let echo = db.table(
        "echo.cf",
        "query = SELECT CONCAT('%s|%u|%d|%S|%U|%D|%1|%2|%3|100%%') FROM DUAL",
    );
    assert_eq!(
        get(&*echo, "alice@mail.example.com").as_deref(),
        Some(
            "alice@mail.example.com|alice|mail.example.com|alice@mail.example.com|alice|mail.example.com|com|example|mail|100%"
        )
    );
    // A key lacking a part the query needs is not looked up: this query would fail.
    let broken = db.table(
        "broken.cf",
        "query = SELECT nosuchcolumn FROM mailbox WHERE '%d|%u|%2'",
    );
    for key in [
        "alice",
        "alice@",
        "@example.com",
        "alice@com",
        "alice@x..com",
    ] {
        assert_eq!(get(&*broken, key), None, "{}", key);
    }
    assert!(broken.lookup("alice@example.com").is_err());
    let by_parts = db.table(
        "parts.cf",
        "query = SELECT maildir FROM mailbox WHERE username = CONCAT('%u', '@', '%2', '.', '%1')",
    );
    assert_eq!(
        get(&*by_parts, "alice@example.com").as_deref(),
        Some("example.com/alice/Maildir/")
    );
}

#[test]
fn result_format_domain_and_multiple_values() {
    let Some(db) = Db::new() else { return };
    let t = db.table(
        "fmt.cf",
        "query = SELECT username FROM mailbox WHERE domain='%d' ORDER BY username\n\
         result_format = %u+%U@%D (%s, %S)",
    );
    assert_eq!(
        get(&*t, "x@example.com").as_deref(),
        Some(
            "alice+x@example.com (alice@example.com, x@example.com),bob+x@example.com (bob@example.com, x@example.com)"
        )
    );
    // Every column of every row, NULLs and empty strings skipped.
    let t = db.table(
        "cols.cf",
        "query = SELECT name, NULL, '', uid FROM mailbox WHERE domain='%d' ORDER BY username",
    );
    assert_eq!(
        get(&*t, "x@example.com").as_deref(),
        Some("Alice,alice,Bob,bob")
    );
    let limited = db.table(
        "limit.cf",
        "query = SELECT username FROM mailbox WHERE domain='%d'\nexpansion_limit = 1",
    );
    let e = limited.lookup("x@example.com").unwrap_err();
    assert!(e.to_string().contains("Expansion limit exceeded"), "{}", e);
    // domain: keys outside the list are not looked up (this query would fail).
    let d = db.table(
        "dom.cf",
        "query = SELECT nosuchcolumn FROM mailbox\ndomain = example.org, inline:{ example.net=1 }",
    );
    assert_eq!(get(&*d, "alice@example.com"), None);
    assert_eq!(get(&*d, "example.org"), None);
    assert!(d.lookup("alice@example.org").is_err());
    assert!(d.lookup("alice@example.net").is_err());
}

const HOSTILE: [&str; 7] = [
    "x'or'1'='1@example.com",
    "' OR 1=1 -- @example.com",
    "\" OR \"1\"=\"1@example.com",
    "alice@example.com\\",
    "alice\\'@example.com",
    "alice@example.com\0' OR '1'='1",
    "alice\0@example.com",
];

#[test]
fn hostile_keys_never_change_the_query() {
    let Some(db) = Db::new() else { return };
    let t = db.table(
        "inj.cf",
        "query = SELECT username FROM mailbox WHERE username='%s'",
    );
    let dq = db.table(
        "injdq.cf",
        "query = SELECT username FROM mailbox WHERE username=\"%s\"",
    );
    let echo = db.table("echo.cf", "query = SELECT '%s' FROM DUAL");
    for key in HOSTILE {
        assert_eq!(get(&*t, key), None, "{:?}", key);
        assert_eq!(get(&*dq, key), None, "{:?}", key);
        // Keys fold to lower case, as with every table.
        let want = key.to_lowercase();
        assert_eq!(
            get(&*echo, key).as_deref(),
            Some(want.as_str()),
            "{:?}",
            key
        );
    }
}

#[test]
fn escaping_with_no_backslash_escapes() {
    let Some(_db) = Db::new() else { return };
    let mut conn = admin().unwrap();
    // With NO_BACKSLASH_ESCAPES the server has no escape that works inside both kinds of
    // quotes, so both are doubled: the other kind then reads as two characters (a
    // different key, not found), and the literal never ends early.
    for (mode, nbe) in [("", false), ("NO_BACKSLASH_ESCAPES", true)] {
        conn.query_drop(format!("SET SESSION sql_mode = '{}'", mode))
            .unwrap();
        assert_eq!(conn.no_backslash_escape(), nbe);
        for (quote, other) in [('\'', "\""), ('"', "'")] {
            for key in HOSTILE {
                let mut q = format!("SELECT {}", quote);
                tables::mysql::query::escape(key, nbe, &mut q);
                q.push(quote);
                let got: Option<String> = conn.query_first(&q).unwrap();
                let want = if nbe {
                    key.replace(other, &other.repeat(2))
                } else {
                    key.to_string()
                };
                assert_eq!(got, Some(want), "{} {:?}", mode, q);
            }
        }
    }
}

#[test]
fn failover_and_unix_sockets() {
    let Some(db) = Db::new() else { return };
    let conn = "hosts = inet:127.0.0.1:1, 127.0.0.1:3306\nuser = root\n";
    let t = tables::open(&format!(
        "mysql:{}",
        db.cf_with(
            conn,
            "fo.cf",
            "query = SELECT name FROM mailbox WHERE username='%s'"
        )
    ))
    .unwrap();
    for _ in 0..8 {
        assert_eq!(get(&*t, "alice@example.com").as_deref(), Some("Alice"));
    }
    let down = tables::open(&format!(
        "mysql:{}",
        db.cf_with(
            "hosts = inet:127.0.0.1:1\nuser = root\n",
            "down.cf",
            "query = SELECT 1"
        )
    ))
    .unwrap();
    let e = down.lookup("a@b").unwrap_err();
    assert!(matches!(e, TableError::Failed { .. }), "{:?}", e);
    assert!(
        e.to_string()
            .contains("connect to mysql server inet:127.0.0.1:1"),
        "{}",
        e
    );
    // Still failing (and answering at once) while the host is marked down.
    assert!(down.lookup("a@b").is_err());
    if !common::require(
        Path::new(SOCKET).exists(),
        "no MariaDB socket at /run/mysqld/mysqld.sock",
    ) {
        return;
    }
    for hosts in [format!("unix:{}", SOCKET), "localhost".to_string()] {
        let conn = format!("hosts = {}\nuser = root\n", hosts);
        let file = format!("sock{}.cf", hosts.len());
        let t = tables::open(&format!(
            "mysql:{}",
            db.cf_with(
                &conn,
                &file,
                "query = SELECT name FROM mailbox WHERE username='%s'"
            )
        ))
        .unwrap();
        assert_eq!(
            get(&*t, "bob@example.com").as_deref(),
            Some("Bob"),
            "{}",
            hosts
        );
    }
}

#[test]
fn errors_are_table_errors() {
    let Some(db) = Db::new() else { return };
    let bad_pw = tables::open(&format!(
        "mysql:{}",
        db.cf_with(
            "hosts = 127.0.0.1:3306\nuser = root\npassword = wrong\n",
            "pw.cf",
            "query = SELECT 1"
        )
    ))
    .unwrap();
    let e = bad_pw.lookup("a@example.com").unwrap_err();
    assert!(e.to_string().contains("Access denied"), "{}", e);
    let bad_sql = db.table("sql.cf", "query = SELEKT '%s'");
    let e = bad_sql.lookup("a@example.com").unwrap_err();
    assert!(e.to_string().contains("SQL syntax"), "{}", e);
    let no_set = db.table("noset.cf", "query = DO '%s'");
    let e = no_set.lookup("a@example.com").unwrap_err();
    assert!(e.to_string().contains("no result set"), "{}", e);
    let ok_without = db.table("noset2.cf", "query = DO '%s'\nrequire_result_set = no");
    assert_eq!(get(&*ok_without, "a@example.com"), None);
    let tls = db.table("tls.cf", "query = SELECT 1\ntls_ciphers = HIGH");
    let e = tls.lookup("a@example.com").unwrap_err();
    assert!(
        e.to_string().contains("tls_ciphers is not supported"),
        "{}",
        e
    );
}

#[test]
fn killed_connection_reconnects_and_pools_are_shared() {
    let Some(db) = Db::new() else { return };
    let cf = db.cf(
        "id.cf",
        "query = SELECT CONNECTION_ID() FROM DUAL WHERE '%s' <> ''",
    );
    let spec = format!("mysql:{}", cf);
    let first = get(&*tables::open(&spec).unwrap(), "k").unwrap();
    // Opened again (as per message): the same connection answers.
    let t = tables::open(&format!("proxy:{}", spec)).unwrap();
    assert_eq!(get(&*t, "k").as_deref(), Some(first.as_str()));
    let mut admin = admin().unwrap();
    admin.query_drop(format!("KILL {}", first)).unwrap();
    let second = get(&*t, "k").unwrap();
    assert_ne!(second, first);
    assert_eq!(get(&*t, "k").as_deref(), Some(second.as_str()));
    // Threads share the pool: many lookups at once use at most MAX_OPEN connections.
    let slow = db.cf(
        "slow.cf",
        "query = SELECT CONNECTION_ID() FROM DUAL WHERE SLEEP(0.05) = 0 AND '%s' <> ''",
    );
    let slow = tables::open(&format!("mysql:{}", slow)).unwrap();
    let ids = std::sync::Mutex::new(std::collections::HashSet::new());
    std::thread::scope(|s| {
        for _ in 0..3 * tables::mysql::pool::MAX_OPEN {
            s.spawn(|| {
                let id = get(&*slow, "k").unwrap();
                ids.lock().unwrap().insert(id);
            });
        }
    });
    let n = ids.lock().unwrap().len();
    assert!((1..=tables::mysql::pool::MAX_OPEN).contains(&n), "{}", n);
}

#[test]
fn postmap_query_and_postconf_m() {
    let Some(db) = Db::new() else { return };
    let cf = db.cf(
        "pm.cf",
        "query = SELECT maildir FROM mailbox WHERE username='%s'",
    );
    for spec in [format!("mysql:{}", cf), format!("proxy:mysql:{}", cf)] {
        let out = Command::new(env!("CARGO_BIN_EXE_postmap"))
            .args([
                "-c",
                db.dir.to_str().unwrap(),
                "-q",
                "alice@example.com",
                &spec,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}", out);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "example.com/alice/Maildir/\n"
        );
        let out = Command::new(env!("CARGO_BIN_EXE_postmap"))
            .args([
                "-c",
                db.dir.to_str().unwrap(),
                "-q",
                "carol@example.com",
                &spec,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
    }
    let bad = db.cf_with("hosts = inet:127.0.0.1:1\n", "pmbad.cf", "query = SELECT 1");
    let out = Command::new(env!("CARGO_BIN_EXE_postmap"))
        .args([
            "-c",
            db.dir.to_str().unwrap(),
            "-q",
            "a@b",
            &format!("mysql:{}", bad),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fatal"),
        "{:?}",
        out
    );
    let out = Command::new(env!("CARGO_BIN_EXE_postconf"))
        .arg("-m")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "mysql")
    );
}

#[test]
fn smtpd_defers_recipients_when_the_table_fails() {
    let Some(db) = Db::new() else { return };
    let good = db.cf(
        "rcpt.cf",
        "query = SELECT username FROM mailbox WHERE username='%u@example.com'",
    );
    let bad = db.cf_with(
        "hosts = inet:127.0.0.1:1\nuser = root\n",
        "rcptbad.cf",
        "query = SELECT '%s'",
    );
    for (cf, want) in [
        (good, "250 2.1.5 Ok"),
        (bad, "451 4.3.0 <alice@www.a.org>: Temporary lookup failure"),
    ] {
        let s = inproc::Server::builder()
            .in_dir(inproc::scratch())
            .set(&[
                ("mydestination", "$myhostname"),
                ("local_recipient_maps", &format!("proxy:mysql:{}", cf)),
            ])
            .start();
        let out = s.talk(&[
            "HELO localhost",
            "MAIL FROM:<root>",
            "RCPT TO:<alice@www.a.org>",
        ]);
        assert_eq!(out[3], want, "{:?}", out);
    }
}

#[test]
fn postfix_check_warns_about_readable_passwords() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("postern-mysql-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cf = dir.join("mysql_users.cf");
    std::fs::write(&cf, "user = mail\npassword = s3cret\nquery = SELECT 1\n").unwrap();
    std::fs::set_permissions(&cf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let spec = format!("proxy:mysql:{}", cf.display());
    let inst = common::Instance::new(&[("local_recipient_maps", &spec)]);
    let want = format!(
        "postfix/postfix-script: warning: {p} contains a database password and is readable by other users (fix: chmod o-r {p})",
        p = cf.display()
    );
    let out = inst.postfix(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{}", err);
    assert!(err.lines().any(|l| l == want), "{}", err);
    std::fs::set_permissions(&cf, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = inst.postfix(&["check"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("database password"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn option_file_supplies_connection_settings() {
    let Some(db) = Db::new() else { return };
    let opt = db.dir.join("my.cnf");
    std::fs::write(
        &opt,
        format!(
            "[client]\nuser = nosuchuser\nhost = 127.0.0.1\nport = 3306\n\
             [postfix]\nuser = root\ndatabase = {}\n",
            db.name
        ),
    )
    .unwrap();
    let cf = db.dir.join("opt.cf");
    std::fs::write(
        &cf,
        format!(
            "option_file = {}\noption_group = postfix\n\
             query = SELECT name FROM mailbox WHERE username='%s'\n",
            opt.display()
        ),
    )
    .unwrap();
    let t = tables::open(&format!("mysql:{}", cf.display())).unwrap();
    assert_eq!(get(&*t, "alice@example.com").as_deref(), Some("Alice"));
    // Without the group only [client] applies: its user does not exist.
    let cf2 = db.dir.join("opt2.cf");
    std::fs::write(
        &cf2,
        format!(
            "option_file = {}\nquery = SELECT 1 FROM DUAL WHERE '%s'<>''\n",
            opt.display()
        ),
    )
    .unwrap();
    let t = tables::open(&format!("mysql:{}", cf2.display())).unwrap();
    let e = t.lookup("a@b").unwrap_err();
    assert!(e.to_string().contains("nosuchuser"), "{}", e);
    let missing = db.cf(
        "opt3.cf",
        "option_file = /nonexistent/my.cnf\nquery = SELECT 1",
    );
    let e = tables::open(&format!("mysql:{}", missing))
        .unwrap()
        .lookup("a@b")
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("open option file /nonexistent/my.cnf"),
        "{}",
        e
    );
}

#[test]
fn tls_when_asked_for_is_required() {
    let Some(db) = Db::new() else { return };
    let mut admin = admin().unwrap();
    let have: Option<(String, String)> =
        admin.query_first("SHOW VARIABLES LIKE 'have_ssl'").unwrap();
    let tls_on = have.is_some_and(|(_, v)| v == "YES");
    let t = db.table(
        "tls.cf",
        "query = SELECT 1 FROM DUAL WHERE '%s'<>''\ntls_verify_cert = no",
    );
    let got = t.lookup("a@b");
    if tls_on {
        assert_eq!(got.unwrap().as_deref(), Some("1"));
    } else {
        // The server offers no TLS: the lookup fails instead of going on in plain text.
        assert!(got.is_err(), "{:?}", got);
    }
}
