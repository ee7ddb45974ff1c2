use super::*;

fn temp_queue(tag: &str) -> Queue {
    let dir = std::env::temp_dir().join(format!("postern-q-{}-{}", tag, std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let q = Queue::new(&dir);
    q.create_dirs().unwrap();
    q
}

#[test]
fn ids_have_postfix_shape() {
    assert_eq!(make_queue_id(0x35EC3, 0x1BB8035), "35EC31BB8035");
    assert!(is_queue_id("35EC31BB8035"));
    assert!(!is_queue_id("t.1.2"));
    assert!(!is_queue_id("abc"));
}

#[test]
fn commit_makes_message_visible_and_drop_leaves_nothing() {
    let q = temp_queue("commit");
    let w = q.create(QueueName::Incoming).unwrap();
    drop(w);
    assert_eq!(fs::read_dir(q.dir(QueueName::Incoming)).unwrap().count(), 0);

    let w = q.create(QueueName::Incoming).unwrap();
    let id = w.id().to_string();
    assert!(
        q.list(QueueName::Incoming).unwrap().is_empty(),
        "invisible until commit"
    );
    let mut env = Envelope::new("s@x");
    env.recipients.push(Recipient::new("r@y"));
    w.commit(&mut env, b"hi\n").unwrap();
    assert_eq!(q.list(QueueName::Incoming).unwrap(), vec![id.clone()]);
    let meta = fs::metadata(q.path(QueueName::Incoming, &id)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    q.move_to(&id, QueueName::Incoming, QueueName::Active)
        .unwrap();
    let when = SystemTime::now() + std::time::Duration::from_secs(600);
    q.defer_until(&id, QueueName::Active, when).unwrap();
    let m = fs::metadata(q.path(QueueName::Deferred, &id))
        .unwrap()
        .modified()
        .unwrap();
    assert!(m > SystemTime::now());
    q.remove(&id, QueueName::Deferred).unwrap();
    assert_eq!(q.locate(&id), None);
    fs::remove_dir_all(q.root()).unwrap();
}

fn commit_one(q: &Queue, body: &[u8]) -> String {
    let w = q.create(QueueName::Incoming).unwrap();
    let mut env = Envelope::new("s@x");
    env.recipients.push(Recipient::new("r@y"));
    w.commit(&mut env, body).unwrap()
}

#[test]
fn purge_removes_only_temporary_files() {
    let q = temp_queue("purge");
    let w = q.create(QueueName::Incoming).unwrap();
    let unfinished = w.id().to_string();
    std::mem::forget(w); // simulate a crash mid-write
    assert!(q.dir(QueueName::Incoming).join(&unfinished).exists());
    assert_eq!(
        q.locate(&unfinished),
        None,
        "not complete: no reader sees it"
    );
    let complete = q.path(QueueName::Incoming, "ABCDEF123");
    fs::write(&complete, b"x").unwrap();
    fs::set_permissions(&complete, fs::Permissions::from_mode(0o700)).unwrap();
    let a = commit_one(&q, b"a\n");
    q.recycle(&a, QueueName::Incoming).unwrap();
    // A spare left by a stopped process is removed too.
    assert_eq!(q.purge_temporary().unwrap(), (2, Vec::new()));
    assert!(!q.dir(QueueName::Incoming).join(&unfinished).exists());
    assert_eq!(fs::read_dir(q.root().join(spare::DIR)).unwrap().count(), 0);
    assert_eq!(
        q.list(QueueName::Incoming).unwrap(),
        vec!["ABCDEF123".to_string()]
    );
    fs::remove_dir_all(q.root()).unwrap();
}

/// A held message left at 0600 (a crash during its commit) is complete once released
/// into incoming/: otherwise nobody would see it and the start-up purge would remove it.
#[test]
fn a_message_moved_into_incoming_is_complete() {
    let q = temp_queue("requeue-mode");
    let id = commit_one(&q, b"held\n");
    q.move_to(&id, QueueName::Incoming, QueueName::Hold)
        .unwrap();
    let held = q.path(QueueName::Hold, &id);
    fs::set_permissions(&held, fs::Permissions::from_mode(0o600)).unwrap();
    q.move_to(&id, QueueName::Hold, QueueName::Incoming)
        .unwrap();
    assert_eq!(q.list(QueueName::Incoming).unwrap(), vec![id.clone()]);
    assert_eq!(q.purge_temporary().unwrap(), (0, Vec::new()));
    fs::remove_dir_all(q.root()).unwrap();
}
