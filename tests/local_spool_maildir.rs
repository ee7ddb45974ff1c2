//! A $mail_spool_directory ending in `/` makes local(8) deliver to a Maildir
//! `$mail_spool_directory/USER/` (as root: created and written by the recipient).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{Instance, wait_for};

#[test]
fn spool_directory_with_a_slash_is_a_maildir_per_user() {
    let inst = Instance::new(&[]);
    inst.set("mail_spool_directory", &format!("{}/", inst.mail.display()));
    // The recipient creates its own Maildir in the spool (as in Postfix).
    std::fs::set_permissions(&inst.mail, std::fs::Permissions::from_mode(0o1777)).unwrap();
    inst.newaliases();
    inst.start();
    let id = inst.send(
        "s@w.com",
        &[&format!("<{}>", inst.local_address())],
        "m",
        "spool maildir",
    );
    assert!(
        wait_for(30, || inst.log().contains(&format!("{}: removed", id))),
        "{}",
        inst.log()
    );
    assert!(
        inst.log().contains("status=sent (delivered to maildir)"),
        "{}",
        inst.log()
    );
    let new = inst.mail.join(&inst.user).join("new");
    let files: Vec<_> = std::fs::read_dir(&new).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("spool maildir"), "{}", text);
    let acct = postern::sys::user_by_name(&inst.user).unwrap().unwrap();
    assert_eq!(files[0].metadata().unwrap().uid(), acct.uid);
    inst.stop();
}
