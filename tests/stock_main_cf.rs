//! The rule for parameters Postern knows but does not implement, through the real
//! `postfix` command: Debian's and RHEL's stock main.cf and Postfix 3.12's conf/main.cf as
//! distributed (tests/data/stock-main-cf/, Postfix's own configuration files) pass
//! `postfix check` without any "unused parameter" warning and with exactly the expected
//! `... is not supported by Postern; ignored` warnings; a setting Postern may not ignore
//! (smtpd_proxy_filter, smtpd_milters, or such a master.cf `-o`) makes `postfix check` and
//! `postfix start` fatal, no master runs, and a reload that adds one is refused.

mod common;

use std::process::Output;

use common::Instance;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An instance whose main.cf is the stock file followed by the test instance's own
/// settings (paths, accounts, the log; later settings win).
fn with_stock(file: &str) -> Instance {
    let inst = Instance::new(&[]);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/stock-main-cf")
        .join(file);
    let stock = std::fs::read_to_string(path).unwrap();
    let main_cf = inst.etc.join("main.cf");
    let own = std::fs::read_to_string(&main_cf).unwrap();
    std::fs::write(&main_cf, format!("{}\n{}", stock, own)).unwrap();
    inst
}

/// The "not supported" lines of `postfix check`, without the main.cf path.
fn not_supported(inst: &Instance, err: &str) -> Vec<String> {
    let prefix = format!(
        "postfix/postfix-script: warning: {}: ",
        inst.etc.join("main.cf").display()
    );
    err.lines()
        .filter(|l| l.contains("not supported by Postern"))
        .map(|l| l.strip_prefix(&prefix).unwrap_or(l).to_string())
        .collect()
}

fn check_stock(file: &str, expected: &[&str]) {
    let inst = with_stock(file);
    let out = inst.postfix(&["check"]);
    let err = stderr(&out);
    assert!(out.status.success(), "postfix check failed: {}", err);
    assert!(!err.contains("unused parameter"), "{}", err);
    assert!(!err.contains("fatal"), "{}", err);
    assert_eq!(not_supported(&inst, &err), expected, "{}", err);
}

#[test]
fn debian_stock_main_cf_warns_only_about_what_postern_ignores() {
    check_stock(
        "debian-3.7.main.cf",
        &["smtp_tls_session_cache_database is not supported by Postern; ignored"],
    );
}

#[test]
fn rhel_stock_main_cf_warns_only_about_what_postern_ignores() {
    check_stock("rhel-3.5.main.cf", &[]);
}

#[test]
fn compatibility_level_2_narrows_the_relay_defaults_as_postfix_3() {
    // RHEL's stock main.cf says `compatibility_level = 2` and leaves mynetworks_style and
    // relay_domains at their implicit defaults: Postfix 3 then trusts only the host itself
    // and relays for no domain. Postfix 2.10's defaults (subnet, $mydestination) would
    // trust the whole subnet.
    let inst = with_stock("rhel-3.5.main.cf");
    let out = inst.run(
        "postconf",
        &["mynetworks_style", "relay_domains", "append_dot_mydomain"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "mynetworks_style = host\nrelay_domains = \nappend_dot_mydomain = no\n"
    );
    // Without a level, Postfix 2.10's defaults.
    let plain = Instance::new(&[]);
    let out = plain.run("postconf", &["mynetworks_style", "relay_domains"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "mynetworks_style = subnet\nrelay_domains = $mydestination\n"
    );
    // An explicit setting wins over the level.
    let explicit = Instance::new(&[("compatibility_level", "2"), ("mynetworks_style", "subnet")]);
    let out = explicit.run("postconf", &["mynetworks_style"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "mynetworks_style = subnet\n"
    );
}

#[test]
fn postfix_3_12_source_main_cf_warns_about_nothing() {
    check_stock("postfix-3.12.main.cf", &[]);
}

#[test]
fn a_proxy_filter_or_milter_is_refused_by_check_and_start() {
    let inst = Instance::new(&[
        ("smtpd_proxy_filter", "127.0.0.1:10024"),
        ("smtpd_milters", "inet:localhost:8891"),
        ("tls_random_source", "dev:/dev/random"),
    ]);
    let main_cf = inst.etc.join("main.cf").display().to_string();
    for action in ["check", "start"] {
        let out = inst.postfix(&[action]);
        let err = stderr(&out);
        assert!(
            !out.status.success(),
            "postfix {} succeeded: {}",
            action,
            err
        );
        for want in [
            format!(
                "postfix/postfix-script: fatal: {}: smtpd_proxy_filter = 127.0.0.1:10024 \
                 is not supported by Postern: mail would bypass the before-queue content filter",
                main_cf
            ),
            format!(
                "postfix/postfix-script: fatal: {}: smtpd_milters = inet:localhost:8891 is not \
                 supported by Postern: mail would bypass the milters",
                main_cf
            ),
            format!(
                "postfix/postfix-script: warning: {}: tls_random_source is not supported by \
                 Postern; ignored",
                main_cf
            ),
        ] {
            assert!(err.lines().any(|l| l == want), "{}\nwant: {}", err, want);
        }
        assert!(
            inst.pid().is_none(),
            "a master runs after postfix {}",
            action
        );
    }
    // The master itself refuses too (postfix start-fg runs it directly).
    let out = inst.postfix(&["start-fg"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("master: fatal: refusing to start"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_refused_master_cf_override_is_fatal_and_an_ignored_one_warns() {
    let inst = Instance::new(&[("milter_default_action", "accept")]);
    let master_cf = inst.etc.join("master.cf");
    let stock = std::fs::read_to_string(&master_cf).unwrap();
    let port = common::free_port();
    std::fs::write(
        &master_cf,
        format!(
            "{}127.0.0.1:{} inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:10025\n",
            stock, port
        ),
    )
    .unwrap();
    let out = inst.postfix(&["start"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{}", err);
    let want = format!(
        "postfix/postfix-script: fatal: {}: line 5: service 127.0.0.1:{}: -o smtpd_milters = \
         inet:127.0.0.1:10025 is not supported by Postern: mail would bypass the milters",
        master_cf.display(),
        port
    );
    assert!(err.lines().any(|l| l == want), "{}\nwant: {}", err, want);
    assert!(inst.pid().is_none());
    // Emptying it, as stock master.cf entries do, asks for what Postern does anyway.
    std::fs::write(
        &master_cf,
        format!(
            "{}127.0.0.1:{} inet n - n - - smtpd -o smtpd_milters= -o smtp_bind_address=127.0.0.1\n",
            stock, port
        ),
    )
    .unwrap();
    let out = inst.postfix(&["start"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{}", err);
    assert!(
        err.contains(&format!(
            "{}: milter_default_action is not supported by Postern; ignored",
            inst.etc.join("main.cf").display()
        )),
        "{}",
        err
    );
    assert!(!err.contains("smtpd_milters"), "{}", err);
    let log = inst.log();
    assert!(
        log.contains(&format!(
            "postfix/master[{}]: warning: {}: line 5: service 127.0.0.1:{}: -o smtp_bind_address=127.0.0.1 \
             not supported by Postern; ignored",
            inst.pid().unwrap(),
            master_cf.display(),
            port
        )),
        "{}",
        log
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("postfix/master[") && l.contains("smtpd_milters")),
        "{}",
        log
    );
    inst.stop();
}

#[test]
fn a_reload_that_adds_a_refused_setting_keeps_the_old_configuration() {
    let inst = Instance::new(&[]);
    inst.start();
    let pid = inst.pid().unwrap();
    inst.set("smtpd_milters", "inet:localhost:8891");
    assert!(inst.postfix(&["reload"]).status.success());
    let want = format!(
        "postfix/master[{}]: warning: reload failed, keeping the old configuration: {}: \
         smtpd_milters = inet:localhost:8891 is not supported by Postern: mail would bypass \
         the milters",
        pid,
        inst.etc.join("main.cf").display()
    );
    assert!(
        common::wait_for(10, || inst.log().contains(&want)),
        "{}\nwant: {}",
        inst.log(),
        want
    );
    assert!(!inst.log().contains("reload -- version"), "{}", inst.log());
    assert_eq!(inst.pid(), Some(pid));
    inst.stop();
}
