//! Tests of the wire format (`wire`): round trips, the byte layout of batches, and
//! malformed or hostile frames.

use super::*;
use crate::delivery::dsn_of;

fn ops() -> Vec<Op> {
    vec![
        Op::Mbox {
            path: "/var/mail/u".into(),
            user: "u".into(),
            uid: 1000,
            gid: 100,
            limit: 51200000,
            locks: LockPolicy::default(),
            create: false,
            records: vec![b"From x  date\n\0binary\n".to_vec()],
        },
        Op::Maildir {
            dir: "/home/u/Maildir/".into(),
            user: "u".into(),
            uid: 1000,
            gid: 100,
            limit: 0,
            host: "www.a.org".into(),
            contents: vec![Vec::new()],
        },
        Op::File {
            path: "/var/log/mail.copy".into(),
            source: Source::Table {
                spec: "hash:/etc/aliases".into(),
                key: "copy".into(),
            },
            uid: 65534,
            gid: 65534,
            limit: 5,
            locks: LockPolicy {
                dotlock: false,
                ..LockPolicy::default()
            },
            record: b"x".to_vec(),
        },
        Op::Command {
            source: Source::Include("/etc/mail/list".into()),
            uid: 65534,
            gid: 65534,
            job: CommandJob {
                command: "/usr/bin/procmail -a \"$EXTENSION\"".into(),
                argv: Vec::new(),
                shell: String::new(),
                dir_required: false,
                env: vec![("HOME".into(), "/".into()), ("EXTENSION".into(), "".into())],
                dir: "/".into(),
                limit: Duration::from_secs(1000),
                input: b"hello".to_vec(),
            },
        },
        Op::File {
            path: "/home/u/mail.copy".into(),
            source: Source::Forward {
                path: "/home/u/.forward".into(),
                user: "u".into(),
            },
            uid: 1000,
            gid: 100,
            limit: 5,
            locks: LockPolicy::default(),
            record: b"x".to_vec(),
        },
        Op::Command {
            source: Source::Mailbox("u".into()),
            uid: 65534,
            gid: 65534,
            job: CommandJob {
                command: "/usr/bin/procmail -a \"$EXTENSION\"".into(),
                argv: Vec::new(),
                shell: String::new(),
                dir_required: false,
                env: vec![("HOME".into(), "/".into()), ("EXTENSION".into(), "".into())],
                dir: "/".into(),
                limit: Duration::from_secs(1000),
                input: b"hello".to_vec(),
            },
        },
        Op::Command {
            source: Source::Pipe("maildrop".into()),
            uid: 5000,
            gid: 5000,
            job: CommandJob {
                command: "/usr/bin/maildrop".into(),
                argv: vec!["/usr/bin/maildrop".into(), "-d".into(), "u@x;$(id)".into()],
                shell: "/usr/sbin/smrsh -c".into(),
                dir_required: true,
                env: Vec::new(),
                dir: "/var/vmail".into(),
                limit: Duration::from_secs(10),
                input: Vec::new(),
            },
        },
    ]
}

#[test]
fn requests_and_replies_round_trip() {
    for op in ops() {
        assert_eq!(decode_op(&encode_op(&op)).unwrap(), op);
    }
    let r = Reply::new(dsn_of("5.2.2"), "cannot update mailbox");
    assert_eq!(decode_reply(&encode_reply(&r)).unwrap(), r);
    let mut buf = Vec::new();
    write_frame(&mut buf, b"abc").unwrap();
    write_frame(&mut buf, b"").unwrap();
    let mut rd = &buf[..];
    assert_eq!(read_frame(&mut rd).unwrap().unwrap(), b"abc");
    assert_eq!(read_frame(&mut rd).unwrap().unwrap(), b"");
    assert_eq!(read_frame(&mut rd).unwrap(), None);
}

#[test]
fn batches_and_their_replies_round_trip() {
    let batch = Op::Mbox {
        path: "/var/mail/u".into(),
        user: "u".into(),
        uid: 1000,
        gid: 100,
        limit: 0,
        locks: LockPolicy::default(),
        create: true,
        records: vec![b"From a\n".to_vec(), Vec::new(), b"\0\xff".to_vec()],
    };
    assert_eq!(decode_op(&encode_op(&batch)).unwrap(), batch);
    assert_eq!(batch.replies(), 3);
    let rs = vec![
        Reply::new(dsn_of("2.0.0"), "delivered to mailbox"),
        Reply::new(dsn_of("5.2.2"), "too large"),
    ];
    assert_eq!(decode_replies(&encode_replies(&rs), 2).unwrap(), rs);
    assert_eq!(
        decode_replies(&encode_replies(&rs), 3).unwrap_err(),
        ProtoError("wrong number of answers".into())
    );
    let mut extra = encode_replies(&rs);
    extra.push(0);
    assert!(decode_replies(&extra, 2).is_err());
    // A single reply is not a batch answer, and a count without records is refused.
    assert!(decode_replies(&encode_reply(&rs[0]), 1).is_err());
    let mut enc = encode_op(&batch);
    let cut = enc.len() - (4 + 2);
    enc.truncate(cut);
    assert!(decode_op(&enc).is_err());
    for n in [0, MAX_BATCH as u64 + 1] {
        let mut f = Fields(Vec::new());
        f.put(b"mbox");
        f.num(1);
        f.num(1);
        f.path(Path::new("/var/mail/u"));
        f.put(b"u");
        f.num(0);
        f.locks(&LockPolicy::default());
        f.num(1);
        f.num(n);
        assert_eq!(
            decode_op(&f.0).unwrap_err(),
            ProtoError("bad record count".into())
        );
    }
}

#[test]
fn maildir_batches_round_trip() {
    let batch = Op::Maildir {
        dir: "/srv/vmail/ex.test/a/".into(),
        user: "a@ex.test".into(),
        uid: 5000,
        gid: 5000,
        limit: 0,
        host: "mx".into(),
        contents: vec![b"one\n".to_vec(), Vec::new(), b"\0\xff".to_vec()],
    };
    assert!(batch.batched());
    assert_eq!(batch.replies(), 3);
    let enc = encode_op(&batch);
    assert_eq!(decode_op(&enc).unwrap(), batch);
    // The layout: kind, uid, gid, dir, user, limit, host, count, messages.
    let mut f = Fields(Vec::new());
    f.put(b"maildir");
    f.num(5000);
    f.num(5000);
    f.path(Path::new("/srv/vmail/ex.test/a/"));
    f.put(b"a@ex.test");
    f.num(0);
    f.put(b"mx");
    f.num(3);
    f.put(b"one\n");
    f.put(b"");
    f.put(b"\0\xff");
    assert_eq!(f.0, enc);
    // A count without its messages, no message, or too many: refused.
    let mut cut = enc.clone();
    cut.truncate(enc.len() - (4 + 2));
    assert!(decode_op(&cut).is_err());
    for n in [0, MAX_BATCH as u64 + 1] {
        let mut f = Fields(Vec::new());
        f.put(b"maildir");
        f.num(1);
        f.num(1);
        f.path(Path::new("/m/"));
        f.put(b"a@b");
        f.num(0);
        f.put(b"h");
        f.num(n);
        assert_eq!(
            decode_op(&f.0).unwrap_err(),
            ProtoError("bad record count".into())
        );
    }
}

#[test]
fn malformed_frames_are_errors() {
    let good = encode_op(&ops()[0]);
    for cut in [0, 3, 9, good.len() - 1] {
        assert!(decode_op(&good[..cut]).is_err(), "cut at {}", cut);
    }
    let mut extra = good.clone();
    extra.push(0);
    assert_eq!(
        decode_op(&extra).unwrap_err().to_string(),
        "protocol error: trailing data"
    );
    let mut f = Fields(Vec::new());
    f.put(b"rm-rf");
    f.num(1);
    f.num(1);
    assert_eq!(
        decode_op(&f.0).unwrap_err(),
        ProtoError("unknown request kind".into())
    );
    let mut f = Fields(Vec::new());
    f.put(b"file");
    f.put(b"-1");
    assert_eq!(
        decode_op(&f.0).unwrap_err(),
        ProtoError("bad number".into())
    );
    assert!(decode_reply(b"\0\0\0\x04nope").is_err());
    // A truncated frame and an absurd length are I/O errors, not panics.
    let mut rd: &[u8] = b"\0\0\0\x09abc";
    assert!(read_frame(&mut rd).is_err());
    let mut rd: &[u8] = b"\xff\xff\xff\xff";
    assert!(read_frame(&mut rd).is_err());
    let mut rd: &[u8] = b"\0\0";
    assert!(read_frame(&mut rd).is_err());
}

#[test]
fn attacker_chosen_lengths_cannot_overflow() {
    // A field announcing 4 GiB - 1 bytes in a short frame.
    let mut data = Vec::new();
    data.extend_from_slice(&u32::MAX.to_be_bytes());
    data.extend_from_slice(b"mbox");
    assert_eq!(
        decode_op(&data).unwrap_err(),
        ProtoError("truncated field".into())
    );
    // Positions near usize::MAX: the sums are checked, not wrapped.
    for pos in [usize::MAX, usize::MAX - 3, usize::MAX - 4] {
        let mut c = Cursor { data: &data, pos };
        assert_eq!(c.take().unwrap_err(), ProtoError("truncated field".into()));
    }
    // One byte over the maximum frame size is refused before reading any payload.
    let mut rd: &[u8] = &((MAX_FRAME + 1) as u32).to_be_bytes();
    let e = read_frame(&mut rd).unwrap_err();
    assert_eq!(e.to_string(), "frame too large");
    let mut sink = Vec::new();
    let big = vec![0u8; MAX_FRAME + 1];
    assert!(write_frame(&mut sink, &big).is_err());
    assert!(sink.is_empty());
    // An unknown source kind is an error.
    let mut f = Fields(Vec::new());
    f.put(b"file");
    f.num(1);
    f.num(1);
    f.put(b"anything");
    assert_eq!(
        decode_op(&f.0).unwrap_err(),
        ProtoError("unknown source".into())
    );
}

#[test]
fn a_bad_dsn_or_a_status_against_it_is_a_protocol_error() {
    let answer = |status: &str, dsn: &str| {
        let mut f = Fields(Vec::new());
        f.put(status.as_bytes());
        f.put(dsn.as_bytes());
        f.put(b"text");
        f.0
    };
    let ok = decode_reply(&answer("bounced", "5.2.2")).unwrap();
    assert_eq!((ok.status, ok.dsn.as_str()), (Status::Bounced, "5.2.2"));
    for (status, dsn) in [
        ("bounced", "5.2"),
        ("bounced", "x.2.2"),
        ("deferred", "3.0.0"),
        ("sent", ""),
        ("deferred", "5.2.2"),
        ("sent", "4.3.0"),
    ] {
        assert!(
            decode_reply(&answer(status, dsn)).is_err(),
            "{} {}",
            status,
            dsn
        );
        let mut batch = Fields(Vec::new());
        batch.num(1);
        batch.0.extend(answer(status, dsn));
        assert!(decode_replies(&batch.0, 1).is_err(), "{} {}", status, dsn);
    }
}
