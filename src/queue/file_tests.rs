use super::*;

#[test]
fn a_closed_file_is_reopened_for_marks_and_content() {
    let path = std::env::temp_dir().join(format!("postern-qf-close-{}", std::process::id()));
    let mut env = Envelope::new("s@x");
    env.recipients.push(Recipient::new("a@y"));
    env.recipients.push(Recipient::new("b@y"));
    std::fs::write(&path, encode(&mut env, b"body\n", "")).unwrap();
    let mut qf = QueueFile::open(&path).unwrap();
    qf.close();
    assert_eq!(qf.content().unwrap(), b"body\n");
    qf.close();
    qf.mark_done(0).unwrap();
    qf.close();
    qf.sync().unwrap();
    let again = QueueFile::open_read_only(&path).unwrap();
    assert_eq!(again.pending().count(), 1);
    let mut ro = QueueFile::open_read_only(&path).unwrap();
    ro.close();
    assert!(ro.mark_done(1).is_err(), "read-only stays read-only");
    std::fs::remove_file(&path).unwrap();
}

/// Found by the fuzz target fuzz/fuzz_targets/queue_file.rs: an arrival time beyond
/// SystemTime's range panicked ("overflow when adding duration to `SystemTime`").
#[test]
fn arrival_time_out_of_range_is_corrupt() {
    for t in ["9999999999999999999", "9223372036854775807.999999999999"] {
        let file = format!("V1:1\nT{}:{}\nF0:\nR3:a@b\nM0:\nE0:\n", t.len(), t);
        match decode(file.as_bytes()) {
            Err(QueueFileError::Corrupt(why)) => assert_eq!(why, "bad arrival time"),
            other => panic!("{:?}: {:?}", t, other.map(|(e, _, _)| e)),
        }
    }
    let file = "V1:1\nT17:1796242598.746641\nF0:\nR3:a@b\nM0:\nE0:\n";
    assert!(decode(file.as_bytes()).is_ok());
}

fn sample() -> Envelope {
    let mut e = Envelope::new("a@b.test");
    e.set_attr("client_address", "127.0.0.1");
    let mut r = Recipient::new("u@here");
    r.orig = Some("u".into());
    r.notify = Some("FAILURE".into());
    e.recipients.push(r);
    e.recipients.push(Recipient::new("v@here"));
    e
}

#[test]
fn round_trip_and_done_marks() {
    let dir = std::env::temp_dir().join(format!("postern-qf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("F00");
    let mut env = sample();
    let content = b"Subject: x\n\nbody with : colons\nand\nnewlines\n";
    let buf = encode(&mut env, content, "");
    std::fs::write(&path, &buf).unwrap();
    let mut qf = QueueFile::open(&path).unwrap();
    assert_eq!(qf.envelope.sender, "a@b.test");
    assert_eq!(qf.envelope.attr("client_address"), Some("127.0.0.1"));
    assert_eq!(qf.envelope.recipients[0].orig.as_deref(), Some("u"));
    assert_eq!(qf.envelope.recipients[1].orig, None);
    assert_eq!(qf.content().unwrap(), content);
    qf.mark_done(0).unwrap();
    assert!(!qf.envelope.delay_warned);
    qf.mark_delay_warned().unwrap();
    qf.sync().unwrap();
    let qf = QueueFile::open(&path).unwrap();
    assert!(qf.envelope.recipients[0].done);
    assert!(qf.envelope.delay_warned);
    assert_eq!(qf.pending().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_file_is_corrupt() {
    let mut env = sample();
    let buf = encode(&mut env, b"hello\n", "");
    for cut in [0, 5, buf.len() / 2, buf.len() - 1] {
        assert!(
            matches!(decode(&buf[..cut]), Err(QueueFileError::Corrupt(_))),
            "cut {}",
            cut
        );
    }
    assert!(decode(&buf).is_ok());
    let mut bad = buf.clone();
    bad[0] = b'Z';
    assert!(decode(&bad).is_err());
    // A length that would overflow is corrupt, not a panic.
    let huge = format!("V1:1\nF{}:x\n", usize::MAX);
    assert!(matches!(
        decode(huge.as_bytes()),
        Err(QueueFileError::Corrupt(_))
    ));
}

/// What a crash during the fsync of a reused file can leave on a file system without a
/// journal: the old message under the new name, or a mix of old and new bytes.
#[test]
fn an_interrupted_write_is_corrupt_not_a_message() {
    let dir = std::env::temp_dir().join(format!("postern-qf-torn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let buf = encode(&mut sample(), b"Subject: old\n\nold body\n", "AAAAA1234");
    let path = dir.join("BBBBB1234");
    std::fs::write(&path, &buf).unwrap();
    match QueueFile::open(&path) {
        Err(QueueFileError::Corrupt(why)) => assert!(why.contains("AAAAA1234"), "{}", why),
        other => panic!("{:?}", other.map(|q| q.envelope)),
    }
    // Under its own name it reads.
    let own = dir.join("AAAAA1234");
    std::fs::write(&own, &buf).unwrap();
    assert!(QueueFile::open(&own).is_ok());
    // One byte of the content changed: the sum no longer matches.
    let mut mixed = buf.clone();
    let at = buf.windows(3).position(|w| w == b"old").unwrap();
    mixed[at] = b'n';
    std::fs::write(&own, &mixed).unwrap();
    assert!(matches!(
        QueueFile::open(&own),
        Err(QueueFileError::Corrupt(_))
    ));
    // The bytes rewritten in place are not in the sum: marks keep the file readable.
    std::fs::write(&own, &buf).unwrap();
    let mut qf = QueueFile::open(&own).unwrap();
    qf.mark_done(0).unwrap();
    qf.mark_delay_warned().unwrap();
    qf.close();
    assert!(QueueFile::open(&own).unwrap().envelope.recipients[0].done);
    // A file of an older version (an empty end record) still reads.
    let end = buf.windows(2).rposition(|w| w == b"\nE").unwrap() + 1;
    let old_form = [&buf[..end], b"E0:\n"].concat();
    assert!(decode(&old_form).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}
