//! SMTP AUTH in the whole mail system (`postfix start` as root, the privilege drop, the
//! secret-file preload and reload): a root-only `$config_directory/sasl/smtpd.conf` (found
//! without cyrus_sasl_config_path) pointing at the test binary's saslauthd
//! (common/saslauthd.rs), `postfix check` naming it, and `postfix reload` rereading it.

mod common;
#[path = "common/saslauthd.rs"]
mod saslauthd;

use common::wait_for;
use postern::sasl::base64;
use saslauthd::{PASSWORD, USER, prerequisites, saslauthd};

fn plain(user: &str, password: &str) -> String {
    base64::encode(format!("\0{}\0{}", user, password).as_bytes())
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn whole_system_with_a_root_only_smtpd_conf() {
    if !prerequisites() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let inst = common::Instance::new(&[("smtpd_sasl_auth_enable", "yes")]);
    // Debian's place, found without cyrus_sasl_config_path; readable by root only, so the
    // unprivileged smtpd has it from the master's preload.
    let sasl_dir = inst.etc.join("sasl");
    std::fs::create_dir_all(&sasl_dir).unwrap();
    let conf = sasl_dir.join("smtpd.conf");
    std::fs::write(
        &conf,
        format!(
            "pwcheck_method: saslauthd\nsaslauthd_path: {}\nmech_list: PLAIN LOGIN\n",
            saslauthd().dir.join("mux").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = inst.postfix(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains(&format!("SASL (main.cf): using {}", conf.display())),
        "{err}"
    );
    inst.newaliases();
    inst.start();
    let mut c = common::Client::connect(inst.port);
    c.reply();
    let r = c.cmd("EHLO client.example");
    assert!(r.contains("250-AUTH PLAIN LOGIN"), "{r}");
    let r = c.cmd(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)));
    assert_eq!(r, "235 2.7.0 Authentication successful");
    assert_eq!(c.cmd("MAIL FROM:<alice@www.a.org>"), "250 2.1.0 Ok");
    let to = format!("RCPT TO:<{}>", inst.local_address());
    assert_eq!(c.cmd(&to), "250 2.1.5 Ok");
    assert!(
        c.data("Subject: t\n\nhi\n")
            .starts_with("250 2.0.0 Ok: queued as")
    );
    c.cmd("QUIT");
    assert!(wait_for(10, || inst.log().contains(&format!(
        ", sasl_method=PLAIN, sasl_username={}",
        USER
    ))));
    inst.stop();
}

#[test]
#[ignore = "needs root: saslauthd -a shadow and a test account (make test runs it as root)"]
fn reload_rereads_a_root_only_smtpd_conf() {
    if !prerequisites() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let inst = common::Instance::new(&[("smtpd_sasl_auth_enable", "yes")]);
    let sasl_dir = inst.etc.join("sasl");
    std::fs::create_dir_all(&sasl_dir).unwrap();
    let conf = sasl_dir.join("smtpd.conf");
    let write = |mechs: &str| {
        std::fs::write(
            &conf,
            format!(
                "pwcheck_method: saslauthd\nsaslauthd_path: {}\nmech_list: {}\n",
                saslauthd().dir.join("mux").display(),
                mechs
            ),
        )
        .unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    write("PLAIN");
    inst.start();
    let ehlo = || {
        let mut c = common::Client::connect(inst.port);
        c.reply();
        let r = c.cmd("EHLO client.example");
        c.cmd("QUIT");
        r
    };
    assert!(ehlo().contains("\n250-AUTH PLAIN\n"), "{}", ehlo());
    write("PLAIN LOGIN");
    let out = inst.postfix(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        wait_for(10, || ehlo().contains("\n250-AUTH PLAIN LOGIN\n")),
        "{}",
        ehlo()
    );
    inst.stop();
}
