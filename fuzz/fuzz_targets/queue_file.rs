//! Fuzzes queue-file decoding, `queue::file::decode` (the input is a whole queue file:
//! files in incoming/ and deferred/, and maildrop/ files written by the set-gid postdrop
//! from untrusted local input). A file that decodes is encoded again with its content and
//! the queue ID its end record named, and must decode to the same envelope, content and ID
//! (record offsets aside); a file whose checksum does not match never decodes.

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use postern::queue::file;

fuzz_target!(|data: &[u8]| {
    let Ok((mut env, off, len, id)) = file::decode_with_id(data) else {
        return;
    };
    let (off, len) = (off as usize, len as usize);
    let content = data.get(off..off + len).expect("content inside the file");
    let again = file::encode(&mut env, content, id.as_deref().unwrap_or(""));
    let (env2, off2, len2, id2) = file::decode_with_id(&again).expect("a re-encoded file decodes");
    assert_eq!(&again[off2 as usize..(off2 + len2) as usize], content);
    // An ID that was written comes back (an empty one is "written without a name").
    assert_eq!(id.filter(|i| !i.is_empty()), id2.filter(|i| !i.is_empty()));
    // Offsets are where records landed; a file without an arrival record gets "now",
    // which the file format keeps to the microsecond.
    let strip = |mut e: file::Envelope| {
        let t = e.arrival.duration_since(UNIX_EPOCH).unwrap_or_default();
        e.arrival = UNIX_EPOCH + Duration::from_micros(t.as_micros() as u64);
        e.warn_offset = 0;
        for r in e.recipients.iter_mut() {
            r.offset = 0;
        }
        e
    };
    assert_eq!(strip(env), strip(env2));
});
