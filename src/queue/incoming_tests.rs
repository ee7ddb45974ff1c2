use super::*;
use crate::queue::{QueueFile, Recipient};

fn commit_one(q: &Queue, body: &[u8]) -> String {
    let w = q.create(QueueName::Incoming).unwrap();
    let mut env = Envelope::new("s@x");
    env.recipients.push(Recipient::new("r@y"));
    w.commit(&mut env, body).unwrap()
}

fn temp_queue(tag: &str) -> Queue {
    let dir = std::env::temp_dir().join(format!("postern-qw-{}-{}", tag, std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let q = Queue::new(&dir);
    q.create_dirs().unwrap();
    q
}

#[test]
fn a_delivered_message_file_is_overwritten_by_the_next_one() {
    let q = temp_queue("spare");
    let long = vec![b'x'; 20_000];
    let old = commit_one(&q, &long);
    q.move_to(&old, QueueName::Incoming, QueueName::Active)
        .unwrap();
    let ino = fs::metadata(q.path(QueueName::Active, &old)).unwrap().ino();
    q.recycle(&old, QueueName::Active).unwrap();
    assert_eq!(q.locate(&old), None, "gone from the queues");
    assert_eq!(q.spare_count(), 1);
    let spare_dir = q.root().join(spare::DIR);
    assert_eq!(fs::read_dir(&spare_dir).unwrap().count(), 1);
    // Not used before its move out of active/ is durable.
    let other = commit_one(&q, b"other\n");
    let other_ino = fs::metadata(q.path(QueueName::Incoming, &other))
        .unwrap()
        .ino();
    assert_ne!(other_ino, ino);
    assert_eq!(q.spare_count(), 1);
    q.settle_spares();

    let new = commit_one(&q, b"short\n");
    assert_ne!(new, old, "a new queue ID");
    assert_eq!(q.spare_count(), 0);
    assert_eq!(fs::read_dir(&spare_dir).unwrap().count(), 0);
    let path = q.path(QueueName::Incoming, &new);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.ino(), ino, "the same file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    // Nothing of the longer message is left after the new one.
    let mut qf = QueueFile::open(&path).unwrap();
    assert_eq!(qf.content().unwrap(), b"short\n");
    assert_eq!(qf.envelope.recipients.len(), 1);
    let mut fresh = Envelope::new("s@x");
    fresh.recipients.push(Recipient::new("r@y"));
    assert_eq!(
        meta.len(),
        file::encode(&mut fresh, b"short\n", &new).len() as u64
    );
    fs::remove_dir_all(q.root()).unwrap();
}

#[test]
fn one_file_serving_message_after_message_never_repeats_an_id() {
    let q = temp_queue("spare-ids");
    let first = commit_one(&q, b"m\n");
    let ino = fs::metadata(q.path(QueueName::Incoming, &first))
        .unwrap()
        .ino();
    let mut seen = std::collections::HashSet::from([first.clone()]);
    let mut id = first;
    for _ in 0..300 {
        q.recycle(&id, QueueName::Incoming).unwrap();
        q.settle_spares();
        id = commit_one(&q, b"m\n");
        let meta = fs::metadata(q.path(QueueName::Incoming, &id)).unwrap();
        assert_eq!(meta.ino(), ino, "the same file each time");
        assert!(seen.insert(id.clone()), "{id} repeated");
    }
    fs::remove_dir_all(q.root()).unwrap();
}

#[test]
fn next_micros_counts_on_from_the_held_message_of_the_same_file() {
    assert_eq!(next_micros("0000A1F", 0x1f), Some(0x0000B));
    assert_eq!(next_micros("FFFFF1F", 0x1f), Some(0), "wraps at 2^20");
    assert_eq!(next_micros("0000A1F", 0x20), None, "another inode's ID");
    assert_eq!(next_micros("0000", 0x1f), None);
    assert_eq!(next_micros("", 0x1f), None);
}

#[test]
fn a_spare_that_is_gone_or_not_a_plain_file_is_not_used() {
    let q = temp_queue("spare-bad");
    let spare_dir = q.root().join(spare::DIR);
    // Removed behind the pool's back (postsuper -p): a new file is made.
    let a = commit_one(&q, b"a\n");
    q.recycle(&a, QueueName::Incoming).unwrap();
    q.settle_spares();
    for e in fs::read_dir(&spare_dir).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    let b = commit_one(&q, b"b\n");
    assert_eq!(q.locate(&b), Some(QueueName::Incoming));
    // Replaced by a link: not followed, deleted, and a new file is made.
    q.recycle(&b, QueueName::Incoming).unwrap();
    q.settle_spares();
    let target = q.root().join("elsewhere");
    fs::write(&target, b"keep").unwrap();
    let link = fs::read_dir(&spare_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let c = commit_one(&q, b"c\n");
    assert_eq!(q.locate(&c), Some(QueueName::Incoming));
    assert_eq!(fs::read(&target).unwrap(), b"keep");
    assert!(fs::symlink_metadata(&link).is_err(), "the link is deleted");
    // A message that waited long in the queue: its file is deleted, not used.
    let old = SystemTime::now() - spare::MAX_IDLE - std::time::Duration::from_secs(60);
    File::options()
        .write(true)
        .open(q.path(QueueName::Incoming, &c))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let held = File::open(q.path(QueueName::Incoming, &c)).unwrap();
    q.recycle(&c, QueueName::Incoming).unwrap();
    q.settle_spares();
    let d = commit_one(&q, b"d\n");
    assert_eq!(q.locate(&d), Some(QueueName::Incoming));
    assert_eq!(held.metadata().unwrap().nlink(), 0, "deleted, not reused");
    assert_eq!(fs::read_dir(&spare_dir).unwrap().count(), 0);
    fs::remove_dir_all(q.root()).unwrap();
}

#[test]
fn without_a_spare_directory_a_delivered_message_is_removed() {
    let q = temp_queue("spare-none");
    fs::remove_dir(q.root().join(spare::DIR)).unwrap();
    let a = commit_one(&q, b"a\n");
    q.recycle(&a, QueueName::Incoming).unwrap();
    assert_eq!(q.locate(&a), None);
    assert_eq!(q.spare_count(), 0);
    fs::remove_dir_all(q.root()).unwrap();
}

#[test]
fn a_new_message_has_its_name_at_once_and_is_complete_only_after_commit() {
    let q = temp_queue("named");
    let w = q.create(QueueName::Incoming).unwrap();
    let id = w.id().to_string();
    let path = q.path(QueueName::Incoming, &id);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(q.list(QueueName::Incoming).unwrap().is_empty());
    assert_eq!(q.find(QueueName::Incoming, &id), None);
    assert_eq!(q.locate(&id), None);
    let mut env = Envelope::new("s@x");
    env.recipients.push(Recipient::new("r@y"));
    assert_eq!(w.commit(&mut env, b"hi\n").unwrap(), id);
    assert_eq!(q.list(QueueName::Incoming).unwrap(), vec![id.clone()]);
    assert_eq!(q.find(QueueName::Incoming, &id), Some(path.clone()));
    assert_eq!(QueueFile::open(&path).unwrap().content().unwrap(), b"hi\n");
    fs::remove_dir_all(q.root()).unwrap();
}

#[test]
fn a_spare_taken_for_a_new_message_hides_its_old_one_until_commit() {
    let q = temp_queue("spare-hidden");
    let old = commit_one(&q, b"the old message\n");
    q.move_to(&old, QueueName::Incoming, QueueName::Active)
        .unwrap();
    q.recycle(&old, QueueName::Active).unwrap();
    q.settle_spares();
    let w = q.create(QueueName::Incoming).unwrap();
    let id = w.id().to_string();
    let path = q.path(QueueName::Incoming, &id);
    // The old bytes are there, under the new name, but nobody reads them as a message.
    assert!(
        fs::read(&path)
            .unwrap()
            .ends_with(format!(" {}\n", old).as_bytes())
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(q.list(QueueName::Incoming).unwrap().is_empty());
    assert_eq!(q.locate(&id), None);
    // Abandoned (the client left): nothing stays behind.
    drop(w);
    assert!(!path.exists());
    assert_eq!(fs::read_dir(q.dir(QueueName::Incoming)).unwrap().count(), 0);
    fs::remove_dir_all(q.root()).unwrap();
}

#[test]
fn a_held_message_goes_to_hold_and_leaves_nothing_in_incoming() {
    let q = temp_queue("named-hold");
    let mut w = q.create(QueueName::Incoming).unwrap();
    w.hold();
    let mut env = Envelope::new("s@x");
    env.recipients.push(Recipient::new("r@y"));
    let id = w.commit(&mut env, b"held\n").unwrap();
    assert_eq!(q.locate(&id), Some(QueueName::Hold));
    let meta = fs::metadata(q.path(QueueName::Hold, &id)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert_eq!(fs::read_dir(q.dir(QueueName::Incoming)).unwrap().count(), 0);
    fs::remove_dir_all(q.root()).unwrap();
}

#[test]
fn a_file_removed_while_written_is_not_acknowledged() {
    let q = temp_queue("named-gone");
    let w = q.create(QueueName::Incoming).unwrap();
    fs::remove_file(q.path(QueueName::Incoming, w.id())).unwrap();
    let mut env = Envelope::new("s@x");
    env.recipients.push(Recipient::new("r@y"));
    let e = w.commit(&mut env, b"lost\n").unwrap_err();
    assert!(e.to_string().contains("removed while written"), "{}", e);
    fs::remove_dir_all(q.root()).unwrap();
}

#[test]
fn a_spare_of_an_earlier_version_is_not_reused() {
    let q = temp_queue("spare-old-format");
    let old = commit_one(&q, b"m\n");
    let path = q.path(QueueName::Incoming, &old);
    let bytes = fs::read(&path).unwrap();
    let end = bytes.windows(2).rposition(|w| w == b"\nE").unwrap() + 1;
    fs::write(&path, [&bytes[..end], b"E0:\n"].concat()).unwrap();
    q.move_to(&old, QueueName::Incoming, QueueName::Active)
        .unwrap();
    q.recycle(&old, QueueName::Active).unwrap();
    q.settle_spares();
    assert_eq!(q.spare_count(), 1);
    let w = q.create(QueueName::Incoming).unwrap();
    // A new, empty file (the spare's inode number may be given out again: not compared).
    let len = fs::metadata(q.path(QueueName::Incoming, w.id()))
        .unwrap()
        .len();
    assert_eq!(len, 0, "a new file, not the old-format spare");
    assert_eq!(q.spare_count(), 0);
    assert_eq!(fs::read_dir(q.root().join(spare::DIR)).unwrap().count(), 0);
    fs::remove_dir_all(q.root()).unwrap();
}
