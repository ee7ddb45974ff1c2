//! postconf as a program, on copies of the repository's etc/main.cf and etc/master.cf:
//! showing parameters, editing main.cf (comments and layout kept), master.cf views, errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PROG: &str = env!("CARGO_BIN_EXE_postconf");

/// A configuration directory holding copies of the stock etc/main.cf and etc/master.cf.
fn stock(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("postern-postconf-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc");
    for f in ["main.cf", "master.cf"] {
        std::fs::copy(repo.join(f), d.join(f)).unwrap();
    }
    d
}

fn postconf(dir: &Path, args: &[&str]) -> Output {
    Command::new(PROG)
        .arg("-c")
        .arg(dir)
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

fn main_cf(d: &Path) -> String {
    std::fs::read_to_string(d.join("main.cf")).unwrap()
}

/// Lines of `new` that differ from `old`, as (old line, new line) pairs; both must have the
/// same number of lines.
fn changed_lines(old: &str, new: &str) -> Vec<(String, String)> {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    assert_eq!(a.len(), b.len(), "line count changed:\n{}", new);
    a.iter()
        .zip(b.iter())
        .filter(|(x, y)| x != y)
        .map(|(x, y)| (x.to_string(), y.to_string()))
        .collect()
}

#[test]
fn named_parameters_defaults_and_unknown() {
    let d = stock("named");
    let o = postconf(&d, &["mail_owner", "message_size_limit", "no_such_param"]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "mail_owner = postfix\nmessage_size_limit = 10240000\n"
    );
    assert_eq!(
        stderr(&o),
        "postconf: warning: no_such_param: unknown parameter\n"
    );
    let o = postconf(&d, &["-h", "mail_owner"]);
    assert_eq!(stdout(&o), "postfix\n");
    let o = postconf(&d, &["-d", "message_size_limit", "smtpd_timeout"]);
    assert_eq!(
        stdout(&o),
        "message_size_limit = 10240000\nsmtpd_timeout = 300s\n"
    );
    // -d shows the default even when main.cf changes it.
    std::fs::write(d.join("main.cf"), "message_size_limit = 5\n").unwrap();
    let o = postconf(&d, &["-d", "message_size_limit"]);
    assert_eq!(stdout(&o), "message_size_limit = 10240000\n");
    let o = postconf(&d, &["message_size_limit"]);
    assert_eq!(stdout(&o), "message_size_limit = 5\n");
    // MAIL_CONFIG instead of -c.
    let o = Command::new(PROG)
        .arg("message_size_limit")
        .env("MAIL_CONFIG", &d)
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "message_size_limit = 5\n");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn all_parameters_raw_and_expanded() {
    let d = stock("all");
    std::fs::write(
        d.join("main.cf"),
        "myhostname = mx.example.org\nsmtpd_banner = $myhostname ESMTP\n",
    )
    .unwrap();
    let o = postconf(&d, &[]);
    assert!(o.status.success());
    let out = stdout(&o);
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.split(" = ").next().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(names.len() > 100);
    assert!(out.contains("\nsmtpd_banner = $myhostname ESMTP\n"));
    assert!(out.contains("\nmydomain = example.org\n"));
    let o = postconf(&d, &["-x", "smtpd_banner", "mydestination"]);
    assert_eq!(
        stdout(&o),
        "smtpd_banner = mx.example.org ESMTP\nmydestination = mx.example.org, localhost.example.org, localhost\n"
    );
    let o = postconf(&d, &["-d"]);
    assert!(stdout(&o).contains("\nsmtpd_banner = $myhostname ESMTP $mail_name\n"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn explicit_settings_after_edits_keep_stock_comments() {
    let d = stock("edit");
    let before = main_cf(&d);
    let n_before = stdout(&postconf(&d, &["-n"]));
    assert!(n_before.contains("mail_owner = postfix\n"));
    assert!(!n_before.contains("relayhost"));

    let o = postconf(&d, &["-e", "mail_owner=mailer", "setgid_group = maildrop"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = main_cf(&d);
    assert_eq!(
        changed_lines(&before, &after),
        vec![
            ("mail_owner = postfix".into(), "mail_owner = mailer".into()),
            (
                "setgid_group = postdrop".into(),
                "setgid_group = maildrop".into()
            ),
        ]
    );
    // A new parameter is appended; everything before it is byte for byte the same.
    let o = postconf(&d, &["relayhost=[gw.example.net]"]);
    assert!(o.status.success());
    let appended = main_cf(&d);
    assert_eq!(appended, format!("{}relayhost = [gw.example.net]\n", after));

    let n_after = stdout(&postconf(&d, &["-n"]));
    let expected: String = {
        let mut lines: Vec<String> = n_before
            .lines()
            .map(|l| match l {
                "mail_owner = postfix" => "mail_owner = mailer".to_string(),
                "setgid_group = postdrop" => "setgid_group = maildrop".to_string(),
                other => other.to_string(),
            })
            .collect();
        lines.push("relayhost = [gw.example.net]".into());
        lines.sort();
        lines.iter().map(|l| format!("{}\n", l)).collect()
    };
    assert_eq!(n_after, expected);
    // The stock comments are all still there.
    let comments = |t: &str| t.lines().filter(|l| l.starts_with('#')).count();
    assert_eq!(comments(&before), comments(&appended));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn edit_replaces_a_continued_parameter() {
    let d = stock("cont");
    std::fs::write(
        d.join("main.cf"),
        "# top\nmynetworks = 127.0.0.0/8,\n    10.0.0.0/8,\n    192.168.0.0/16\n# keep me\nmyhostname = h.example\n",
    )
    .unwrap();
    let o = postconf(&d, &["-e", "mynetworks=127.0.0.0/8"]);
    assert!(o.status.success());
    assert_eq!(
        main_cf(&d),
        "# top\nmynetworks = 127.0.0.0/8\n# keep me\nmyhostname = h.example\n"
    );
    assert_eq!(
        stdout(&postconf(&d, &["-h", "mynetworks"])),
        "127.0.0.0/8\n"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn malformed_edit_fails_and_leaves_file_unchanged() {
    let d = stock("bad");
    let before = std::fs::read(d.join("main.cf")).unwrap();
    for args in [
        vec!["-e", "relayhost=[gw]", "this is not an assignment"],
        vec!["-e", "bad name=1"],
        vec!["-e", "=value"],
        vec!["-X", "relayhost=x"],
        vec!["-#", "bad-name"],
    ] {
        let o = postconf(&d, &args);
        assert_eq!(o.status.code(), Some(1), "{:?}", args);
        assert!(
            stderr(&o).starts_with("postconf: fatal: "),
            "{:?}: {}",
            args,
            stderr(&o)
        );
        assert_eq!(std::fs::read(d.join("main.cf")).unwrap(), before);
    }
    // No temporary file was left either.
    let files = std::fs::read_dir(&d).unwrap().count();
    assert_eq!(files, 2);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn comment_out_and_remove() {
    let d = stock("hash");
    std::fs::write(
        d.join("main.cf"),
        "a_comment = no\nalias_maps = hash:/a,\n  hash:/b\nrelayhost = [gw]\n\n# end\n",
    )
    .unwrap();
    let o = postconf(&d, &["-#", "alias_maps"]);
    assert!(o.status.success());
    assert_eq!(
        main_cf(&d),
        "a_comment = no\n#alias_maps = hash:/a,\n#  hash:/b\nrelayhost = [gw]\n\n# end\n"
    );
    assert_eq!(
        stdout(&postconf(&d, &["alias_maps"])),
        "alias_maps = hash:/etc/aliases\n"
    );
    let o = postconf(&d, &["-X", "relayhost", "not_there"]);
    assert!(o.status.success());
    assert_eq!(
        main_cf(&d),
        "a_comment = no\n#alias_maps = hash:/a,\n#  hash:/b\n\n# end\n"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn unused_parameter_warning() {
    let d = stock("unused");
    let mut text = main_cf(&d);
    text.push_str("mispeled_param = 42\nmy_list = a, b\nmynetworks = $my_list\n");
    std::fs::write(d.join("main.cf"), text).unwrap();
    let o = postconf(&d, &["-n"]);
    assert!(o.status.success());
    assert_eq!(
        stderr(&o),
        format!(
            "postconf: warning: {}/main.cf: unused parameter: mispeled_param=42\n",
            d.display()
        )
    );
    assert!(!stdout(&o).contains("mispeled_param"));
    // A user-defined parameter that another refers to is used, and shown.
    assert!(stdout(&o).contains("my_list = a, b\n"));
    assert_eq!(stdout(&postconf(&d, &["-xh", "mynetworks"])), "a, b\n");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn syntax_error_in_main_cf_is_fatal() {
    let d = stock("syntax");
    std::fs::write(d.join("main.cf"), "a = 1\nnot an assignment\n").unwrap();
    let o = postconf(&d, &["-n"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "postconf: fatal: {}/main.cf, line 2: missing '=' after attribute name: \"not an assignment\"\n",
            d.display()
        )
    );
}

#[test]
fn table_and_sasl_types() {
    let d = stock("types");
    let o = postconf(&d, &["-m"]);
    let expected: Vec<&str> = postern::tables::registry::names().collect();
    assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), expected);
    // Every type -m lists opens (it may fail on the missing file, never as unsupported).
    for t in stdout(&o).lines() {
        let spec = match t {
            "proxy" => format!("proxy:hash:{}/no-such-table", d.display()),
            "unix" => "unix:passwd.byname".to_string(),
            _ => format!("{}:{}/no-such-table", t, d.display()),
        };
        if let Err(e) = postern::tables::open(&spec) {
            assert!(
                !matches!(e, postern::tables::TableError::UnsupportedType { .. }),
                "postconf -m lists {} but it does not open: {}",
                t,
                e
            );
        }
    }
    // -a: the SMTP server's SASL plug-ins (Cyrus, Dovecot); -A: the SMTP client's (none, it
    // has no AUTH), where Postfix lists "cyrus" when compiled in.
    for (opt, want) in [("-a", "cyrus\ndovecot\n"), ("-A", "")] {
        let o = postconf(&d, &[opt]);
        assert_eq!(
            (o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()),
            (Some(0), want, ""),
            "postconf {}",
            opt
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn master_entries() {
    let d = stock("master");
    let o = postconf(&d, &["-M"]);
    assert!(o.status.success());
    let out = stdout(&o);
    let stock_entries = std::fs::read_to_string(d.join("master.cf"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    assert_eq!(out.lines().count(), stock_entries);
    assert!(out.starts_with("smtp       inet  n       -       n       -       -       smtpd\n"));
    assert!(out.contains("\nproxywrite unix  -       -       n       -       1       proxymap\n"));
    let o = postconf(&d, &["-M", "smtp/inet"]);
    assert_eq!(
        stdout(&o),
        "smtp       inet  n       -       n       -       -       smtpd\n"
    );
    let o = postconf(&d, &["-M", "smtp"]);
    assert_eq!(stdout(&o).lines().count(), 2);
    // -o options: one line, and folded with -Mf.
    let mut text = std::fs::read_to_string(d.join("master.cf")).unwrap();
    text.push_str("submission inet n - n - - smtpd\n  -o syslog_name=postfix/submission\n  -o smtpd_sasl_auth_enable=yes\n");
    std::fs::write(d.join("master.cf"), text).unwrap();
    let o = postconf(&d, &["-M", "submission/inet"]);
    assert_eq!(
        stdout(&o),
        "submission inet  n       -       n       -       -       smtpd -o syslog_name=postfix/submission -o smtpd_sasl_auth_enable=yes\n"
    );
    let o = postconf(&d, &["-Mf", "submission"]);
    assert_eq!(
        stdout(&o),
        "submission inet  n       -       n       -       -       smtpd\n    -o syslog_name=postfix/submission\n    -o smtpd_sasl_auth_enable=yes\n"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn master_fields_and_parameters() {
    let d = stock("fields");
    let o = postconf(&d, &["-F", "smtp/inet"]);
    assert_eq!(
        stdout(&o),
        "smtp/inet/service = smtp\nsmtp/inet/type = inet\nsmtp/inet/private = n\n\
         smtp/inet/unprivileged = -\nsmtp/inet/chroot = n\nsmtp/inet/wakeup = -\n\
         smtp/inet/process_limit = -\nsmtp/inet/command = smtpd\n"
    );
    let o = postconf(&d, &["-F", "pickup/unix/wakeup", "*/*/process_limit"]);
    let out = stdout(&o);
    assert!(out.starts_with(
        "smtp/inet/process_limit = -\npickup/unix/wakeup = 60\npickup/unix/process_limit = 1\n"
    ));
    let o = postconf(&d, &["-Fh", "qmgr/unix/process_limit"]);
    assert_eq!(stdout(&o), "1\n");
    // The stock master.cf has no -o overrides.
    assert_eq!(stdout(&postconf(&d, &["-P"])), "");
    let mut text = std::fs::read_to_string(d.join("master.cf")).unwrap();
    text.push_str("127.0.0.1:2525 inet n - n - 5 smtpd\n  -o smtpd_banner=$myhostname\n  -o syslog_name=postfix/test\n");
    std::fs::write(d.join("master.cf"), text).unwrap();
    std::fs::write(d.join("main.cf"), "myhostname = t.example\n").unwrap();
    let o = postconf(&d, &["-P"]);
    assert_eq!(
        stdout(&o),
        "127.0.0.1:2525/inet/smtpd_banner = $myhostname\n127.0.0.1:2525/inet/syslog_name = postfix/test\n"
    );
    let o = postconf(&d, &["-Px", "*/inet/smtpd_banner"]);
    assert_eq!(stdout(&o), "127.0.0.1:2525/inet/smtpd_banner = t.example\n");
    let o = postconf(&d, &["-F", "127.0.0.1:2525/inet/process_limit"]);
    assert_eq!(stdout(&o), "127.0.0.1:2525/inet/process_limit = 5\n");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_master_cf_and_option_errors() {
    let d = stock("badmaster");
    std::fs::write(d.join("master.cf"), "smtp inet n - n - x smtpd\n").unwrap();
    let o = postconf(&d, &["-M"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad maximal process count"));
    let o = postconf(&d, &["-M", "-e", "smtp/inet=x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("postconf: fatal: "));
    let o = postconf(&d, &["-Z"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("usage: postconf"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn concurrent_edits_are_not_lost() {
    let d = stock("concurrent");
    let before = main_cf(&d);
    let children: Vec<_> = (0..8)
        .map(|i| {
            Command::new(PROG)
                .arg("-c")
                .arg(&d)
                .arg("-e")
                .arg(format!("user_param_{}=v{}", i, i))
                .env_remove("MAIL_CONFIG")
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let after = main_cf(&d);
    assert!(after.starts_with(&before));
    for i in 0..8 {
        assert!(
            after.contains(&format!("\nuser_param_{} = v{}\n", i, i)),
            "edit {} lost:\n{}",
            i,
            after
        );
    }
    assert_eq!(after.lines().count(), before.lines().count() + 8);
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 2);
    let _ = std::fs::remove_dir_all(&d);
}

/// `postconf -d` lists every parameter of Postfix 2.10 with its default, implemented or
/// not, marked only by value; `postconf -n` lists every main.cf setting of one, and only
/// names that are no parameter get the `unused parameter` warning (Postfix's own postconf
/// test `test2` expects exactly that).
#[test]
fn postfix_2_10_inventory_in_d_and_n() {
    let d = stock("inventory");
    let o = postconf(&d, &["-d"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.lines().count() >= 710, "{}", out.lines().count());
    for line in [
        "soft_bounce = no",
        "postscreen_greet_wait = ${stress?2}${stress:6}s",
        "qmgr_message_recipient_limit = 20000",
        "address_verify_map = btree:$data_directory/verify_cache",
        "tlsproxy_tls_key_file = $smtpd_tls_key_file",
        "message_size_limit = 10240000",
    ] {
        assert!(out.lines().any(|l| l == line), "{}", line);
    }
    assert!(
        !out.contains("not supported"),
        "only values, as Postfix prints"
    );

    std::fs::write(
        d.join("main.cf"),
        "tls_high_cipherlist = HIGH\nmyhostname = mx.example.org\nrestriction_classes = x\n\
         postscreen_greet_wait = 3s\n",
    )
    .unwrap();
    let o = postconf(&d, &["-n"]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "myhostname = mx.example.org\npostscreen_greet_wait = 3s\ntls_high_cipherlist = HIGH\n"
    );
    assert_eq!(
        stderr(&o),
        format!(
            "postconf: warning: {}/main.cf: unused parameter: restriction_classes=x\n",
            d.display()
        )
    );
    let _ = std::fs::remove_dir_all(&d);
}
