//! `owner-` aliases through a running instance: a list with an `owner-NAME` alias sends
//! each member a new message whose envelope sender is the owner, so a failure for a
//! member goes to the owner, not to the original sender; expand_owner_alias = yes uses
//! the owner alias's value; owner_request_special = no turns it off.

mod common;

use common::{Instance, wait_for};

fn list_instance(extra: &[(&str, &str)]) -> Instance {
    let inst = Instance::new(extra);
    let mut aliases = std::fs::read_to_string(inst.etc.join("aliases")).unwrap();
    aliases.push_str(&format!(
        "list: {u}, far@remote.test\nowner-list: {u}\n",
        u = inst.user
    ));
    std::fs::write(inst.etc.join("aliases"), aliases).unwrap();
    inst.newaliases();
    inst
}

#[test]
fn list_mail_is_sent_on_from_the_list_owner() {
    let inst = list_instance(&[]);
    inst.start();
    let id = inst.send("s@w.com", &["<list@www.a.org>"], "to the list", "list body");
    let line = inst.wait_log(&format!(
        "{}: to=<{}>, orig_to=<list@www.a.org>",
        id,
        inst.local_address()
    ));
    assert!(line.contains("status=sent (forwarded as "), "{}", line);
    inst.wait_log("from=<owner-list@www.a.org>");
    assert!(wait_for(20, || inst.mbox(&inst.user).contains("list body")));
    let mbox = inst.mbox(&inst.user);
    assert!(
        mbox.contains("Return-Path: <owner-list@www.a.org>"),
        "{}",
        mbox
    );
    assert!(mbox.contains("Delivered-To: list@www.a.org"), "{}", mbox);
    // The remote member fails (no DNS here): the notice goes to the owner, whose mail
    // reaches the test user; the original sender gets nothing.
    inst.wait_log("to=<far@remote.test>");
    inst.wait_log("to=<owner-list@www.a.org>");
    assert!(!inst.log().contains("to=<s@w.com>"), "{}", inst.log());
    inst.stop();
}

#[test]
fn expand_owner_alias_and_owner_request_special() {
    let inst = list_instance(&[("expand_owner_alias", "yes")]);
    inst.start();
    inst.send("s@w.com", &["<list@www.a.org>"], "x", "expanded owner");
    inst.wait_log(&format!("from=<{}>", inst.local_address()));
    assert!(wait_for(20, || inst
        .mbox(&inst.user)
        .contains("expanded owner")));
    inst.stop();

    let inst = list_instance(&[("owner_request_special", "no")]);
    inst.start();
    let id = inst.send("s@w.com", &["<list@www.a.org>"], "x", "no owner");
    let line = inst.wait_log(&format!("{}: to=<{}>", id, inst.local_address()));
    assert!(
        line.ends_with("status=sent (delivered to mailbox)"),
        "{}",
        line
    );
    assert!(inst.mbox(&inst.user).contains("Return-Path: <s@w.com>"));
    inst.stop();
}
