//! After-queue content filtering end to end (Postfix's FILTER_README): `content_filter` on
//! an smtpd listener (master.cf `-o`) or in main.cf, the FILTER action of header_checks and
//! of an smtpd access table, and `receive_override_options` on the listener that takes the
//! filtered mail back. The "simple content filter" shape runs a pipe(8) script that edits
//! the message and reinjects it over SMTP (swaks) into a second listener with
//! `-o content_filter=`: the mail arrives filtered, exactly once. An in-test SMTP server
//! stands for an SMTP-speaking filter (`content_filter = smtp:[127.0.0.1]:PORT`).

mod common;
#[path = "smtp_client/server.rs"]
#[allow(dead_code)]
mod server;

use std::os::unix::fs::PermissionsExt;

use common::{Instance, wait_for};
use postern::sys;

/// master.cf with the instance's own entries, the first listener's line given `-o`
/// options, and `more` lines appended.
fn master_cf(inst: &Instance, first_opts: &str, more: &str) {
    let path = inst.etc.join("master.cf");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[0].push_str(first_opts);
    let mut out = lines.join("\n");
    out.push('\n');
    out.push_str(more);
    std::fs::write(&path, out).unwrap();
}

/// The account pipe(8) commands run as: the test account as root, else ourselves.
fn pipe_user() -> String {
    if sys::is_root() {
        common::test_user()
    } else {
        sys::user_by_uid(sys::euid()).unwrap().unwrap().name
    }
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// Wait until no message is in the queue (delivered or bounced).
fn drained(inst: &Instance) -> bool {
    wait_for(30, || {
        ["incoming", "active", "deferred"]
            .iter()
            .all(|q| inst.queue_files(q).iter().all(|f| f.starts_with("t.")))
    })
}

#[test]
fn simple_content_filter_pipe_reinjects_once_without_a_loop() {
    if !common::require(
        std::path::Path::new("/usr/bin/swaks").exists(),
        "swaks is not installed",
    ) {
        return;
    }
    let inst = Instance::new(&[]);
    let port2 = common::free_port();
    let script = inst.etc.join("filter.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             # Postfix's simple content filter: -f SENDER -- RECIPIENT...\n\
             from=$2; shift 3\n\
             to=$(echo \"$@\" | tr ' ' ',')\n\
             tmp=$(mktemp) || exit 75\n\
             {{ echo 'X-Filtered: by the test filter'; sed 's/secret/[censored]/g'; }} > $tmp\n\
             swaks --silent 2 --server 127.0.0.1 --port {port2} --helo filter.test \\\n\
               --from \"$from\" --to \"$to\" --data - < $tmp || {{ rm -f $tmp; exit 75; }}\n\
             rm -f $tmp\n\
             exit 0\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    master_cf(
        &inst,
        " -o content_filter=filter:dummy",
        &format!(
            "127.0.0.1:{port2} inet n - n - - smtpd -o content_filter= \
             -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters\n\
             filter unix - n n - - pipe flags=Rq user={user} argv={script} -f ${{sender}} -- ${{recipient}}\n",
            user = pipe_user(),
            script = script.display()
        ),
    );
    inst.newaliases();
    inst.start();
    let to = format!("<{}>", inst.local_address());
    let id = inst.send("s@remote.test", &[&to], "cf-test", "the secret word");
    assert!(
        wait_for(30, || inst.mbox(&inst.user).contains("X-Filtered")),
        "{}",
        inst.log()
    );
    assert!(drained(&inst), "{}", inst.log());
    let log = inst.log();
    let first = log
        .lines()
        .find(|l| l.contains(&format!("{}: to=<{}>", id, inst.local_address())))
        .unwrap_or_else(|| panic!("{}", log));
    assert!(
        first.contains("relay=filter, ")
            && first.ends_with("status=sent (delivered via filter service)"),
        "{}",
        first
    );
    let mbox = inst.mbox(&inst.user);
    assert_eq!(
        count(&mbox, "Subject: cf-test"),
        1,
        "exactly once: {}",
        mbox
    );
    assert_eq!(
        count(&mbox, "X-Filtered: by the test filter"),
        1,
        "{}",
        mbox
    );
    assert!(mbox.contains("the [censored] word"), "{}", mbox);
    assert!(!mbox.contains("secret"), "{}", mbox);
    // The reinjected copy came in through the second listener and went to local.
    assert_eq!(count(&log, "relay=filter"), 1, "{}", log);
    assert_eq!(count(&log, "relay=local"), 1, "{}", log);
    inst.stop();
}

#[test]
fn content_filter_smtp_sends_every_recipient_to_the_filter() {
    let filter = server::start(server::Script::default());
    let inst = Instance::new(&[(
        "content_filter",
        &format!("smtp:[127.0.0.1]:{}", filter.port),
    )]);
    inst.newaliases();
    inst.start();
    let to = inst.local_address();
    let id = inst.send(
        "s@remote.test",
        &[&format!("<{}>", to), "<other@remote.test>"],
        "to the filter",
        "body",
    );
    assert!(
        wait_for(30, || !filter.seen().data.is_empty()),
        "{}",
        inst.log()
    );
    assert!(drained(&inst), "{}", inst.log());
    let seen = filter.seen();
    assert_eq!(seen.data.len(), 1, "one transaction: {:?}", seen.cmds());
    let cmds = seen.cmds().join("\n");
    assert!(cmds.contains(&format!("RCPT TO:<{}>", to)), "{}", cmds);
    assert!(cmds.contains("RCPT TO:<other@remote.test>"), "{}", cmds);
    let data = String::from_utf8_lossy(&seen.data[0]).into_owned();
    assert!(data.contains("Subject: to the filter"), "{}", data);
    let log = inst.log();
    for r in [to.as_str(), "other@remote.test"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("{}: to=<{}>", id, r))
                    && l.contains(&format!("relay=127.0.0.1[127.0.0.1]:{}", filter.port))
                    && l.contains("status=sent")),
            "{}",
            log
        );
    }
    assert!(
        inst.mbox(&inst.user).is_empty(),
        "nothing bypassed the filter"
    );
    // The queue file recorded the filter (postcat shows the attribute).
    inst.stop();
}

#[test]
fn filter_action_of_header_checks_and_access_tables_for_one_message() {
    let filter = server::start(server::Script::default());
    let dir = std::env::temp_dir().join(format!("postern-cf-hc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hc = dir.join("header_checks");
    std::fs::write(
        &hc,
        format!(
            "/^Subject: filter me/ FILTER smtp:[127.0.0.1]:{}\n",
            filter.port
        ),
    )
    .unwrap();
    let inst = Instance::new(&[
        ("header_checks", &format!("regexp:{}", hc.display())),
        (
            "smtpd_recipient_restrictions",
            &format!(
                "check_recipient_access inline:{{ via-access@remote.test=FILTER smtp:[127.0.0.1]:{} }}, permit_mynetworks, reject_unauth_destination",
                filter.port
            ),
        ),
        ("relayhost", "[127.0.0.1]:9"),
        ("minimal_backoff_time", "600s"),
    ]);
    inst.newaliases();
    inst.start();
    let to = inst.local_address();
    let plain = inst.send("s@remote.test", &[&format!("<{}>", to)], "plain", "x");
    let filtered = inst.send("s@remote.test", &[&format!("<{}>", to)], "filter me", "x");
    let by_access = inst.send("s@remote.test", &["<via-access@remote.test>"], "acc", "x");
    // Both filtered messages' delivery lines (the filter records a message before it
    // answers, the line follows the answer).
    let relay = format!("relay=127.0.0.1[127.0.0.1]:{}", filter.port);
    let delivered = |id: &str| {
        inst.log()
            .lines()
            .any(|l| l.contains(&format!("{}: to=<", id)) && l.contains(&relay))
    };
    assert!(
        wait_for(30, || delivered(&filtered) && delivered(&by_access)),
        "{}",
        inst.log()
    );
    assert_eq!(filter.seen().data.len(), 2);
    assert!(
        wait_for(30, || inst.mbox(&inst.user).contains("Subject: plain")),
        "{}",
        inst.log()
    );
    let log = inst.log();
    let want = format!(
        "{}: filter: header Subject: filter me from localhost[127.0.0.1]; from=<s@remote.test> to=<{}> proto=ESMTP helo=<localhost>: smtp:[127.0.0.1]:{}",
        filtered, to, filter.port
    );
    assert!(log.contains(&want), "{}\nwant: {}", log, want);
    let want = format!(
        "NOQUEUE: filter: RCPT from localhost[127.0.0.1]: <via-access@remote.test>: Recipient address triggers FILTER smtp:[127.0.0.1]:{}; from=<s@remote.test> to=<via-access@remote.test> proto=ESMTP helo=<localhost>",
        filter.port
    );
    assert!(log.contains(&want), "{}\nwant: {}", log, want);
    assert!(
        !log.lines()
            .any(|l| l.contains(&format!("{}: to=<", plain)) && l.contains(&relay)),
        "{}",
        log
    );
    let mbox = inst.mbox(&inst.user);
    assert!(!mbox.contains("filter me"), "{}", mbox);
    inst.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn receive_override_options_turn_off_checks_and_mappings_on_one_listener() {
    let dir = std::env::temp_dir().join(format!("postern-cf-ro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hc = dir.join("header_checks");
    std::fs::write(&hc, "/^Subject: forbidden/ REJECT no thanks\n").unwrap();
    let inst = Instance::new(&[("header_checks", &format!("regexp:{}", hc.display()))]);
    let user = inst.user.clone();
    inst.set(
        "virtual_alias_maps",
        &format!("inline:{{ alias@www.a.org={}@www.a.org }}", user),
    );
    let port2 = common::free_port();
    master_cf(
        &inst,
        "",
        &format!(
            "127.0.0.1:{port2} inet n - n - - smtpd -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_address_mappings,no_milters\n"
        ),
    );
    inst.newaliases();
    inst.start();
    // The ordinary listener: unknown recipients refused, header_checks applied.
    let mut c = inst.connect();
    c.reply();
    c.cmd("ehlo localhost");
    assert_eq!(c.cmd("mail from:<s@remote.test>"), "250 2.1.0 Ok");
    let r = c.cmd("rcpt to:<nobody-here@www.a.org>");
    assert!(r.starts_with("550 5.1.1"), "{}", r);
    assert_eq!(
        c.cmd(&format!("rcpt to:<{}@www.a.org>", user)),
        "250 2.1.5 Ok"
    );
    let r = c.data("Subject: forbidden\n\nx\n");
    assert!(r.starts_with("550 5.7.1 no thanks"), "{}", r);
    c.cmd("quit");
    // The override listener: accepted, not inspected, not mapped.
    let mut c = common::Client::connect(port2);
    c.reply();
    c.cmd("ehlo localhost");
    assert_eq!(c.cmd("mail from:<s@remote.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd("rcpt to:<nobody-here@www.a.org>"), "250 2.1.5 Ok");
    assert_eq!(
        c.cmd(&format!("rcpt to:<{}@www.a.org>", user)),
        "250 2.1.5 Ok"
    );
    let r = c.data("Subject: forbidden\n\nx\n");
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{}", r);
    let id = common::queued_id(&r);
    c.cmd("quit");
    assert!(
        wait_for(30, || inst.mbox(&user).contains("Subject: forbidden")),
        "{}",
        inst.log()
    );
    // no_address_mappings: alias@ is not expanded (it bounces as unknown in local).
    let id2 = {
        let mut c = common::Client::connect(port2);
        c.reply();
        c.cmd("ehlo localhost");
        c.cmd("mail from:<s@remote.test>");
        assert_eq!(c.cmd("rcpt to:<alias@www.a.org>"), "250 2.1.5 Ok");
        let r = c.data("Subject: mapped?\n\nx\n");
        c.cmd("quit");
        common::queued_id(&r)
    };
    assert!(
        wait_for(30, || inst
            .log()
            .lines()
            .any(|l| l.contains(&format!("{}: to=<alias@www.a.org>", id2)))),
        "{}",
        inst.log()
    );
    assert!(
        !inst
            .log()
            .contains(&format!("{}: to=<{}@www.a.org>", id2, user)),
        "{}",
        inst.log()
    );
    assert!(
        inst.log()
            .contains(&format!("{}: to=<{}@www.a.org>", id, user))
    );
    inst.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pickup_applies_its_own_content_filter_and_ignores_one_in_a_maildrop_file() {
    let filter = server::start(server::Script::default());
    let inst = Instance::new(&[]);
    let path = inst.etc.join("master.cf");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "pickup fifo n - n 60 1 pickup",
        &format!(
            "pickup fifo n - n 60 1 pickup -o content_filter=smtp:[127.0.0.1]:{}",
            filter.port
        ),
    );
    std::fs::write(&path, text).unwrap();
    inst.newaliases();
    inst.start();
    let to = inst.local_address();
    // sendmail -> postdrop -> pickup: pickup's -o content_filter applies.
    let mut child = std::process::Command::new(common::bin("sendmail"))
        .arg("-C")
        .arg(&inst.etc)
        .args(["-f", "s@remote.test", &to])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: via pickup\n\nx\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        wait_for(30, || filter.seen().data.len() == 1),
        "{}",
        inst.log()
    );
    inst.stop();

    // A maildrop file that names a filter itself: pickup drops it (no -o here).
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!(" -o content_filter=smtp:[127.0.0.1]:{}", filter.port),
        "",
    );
    std::fs::write(&path, text).unwrap();
    let queue = postern::queue::Queue::new(&inst.spool);
    let w = queue.create(postern::queue::QueueName::Maildrop).unwrap();
    let mut env = postern::queue::Envelope::new("s@remote.test");
    env.set_attr(
        postern::queue::FILTER_ATTR,
        &format!("smtp:[127.0.0.1]:{}", filter.port),
    );
    env.recipients.push(postern::queue::Recipient::new(&to));
    w.commit(&mut env, b"Subject: forged filter\n\nx\n")
        .unwrap();
    inst.start();
    assert!(
        wait_for(30, || inst
            .mbox(&inst.user)
            .contains("Subject: forged filter")),
        "{}",
        inst.log()
    );
    assert_eq!(
        filter.seen().data.len(),
        1,
        "the forged filter was not used"
    );
    inst.stop();
}
