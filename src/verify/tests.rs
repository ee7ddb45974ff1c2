use super::*;

fn settings() -> Settings {
    Settings {
        positive_expire: 31 * 86400,
        positive_refresh: 7 * 86400,
        negative_expire: 3 * 86400,
        negative_refresh: 3 * 3600,
        negative_cache: true,
        cleanup_interval: 12 * 3600,
    }
}

const T0: u64 = 1_800_000_000;

#[test]
fn an_unknown_address_is_probed_once_until_an_answer_comes() {
    let (c, s) = (Cache::new(), settings());
    let (a, probe) = c.query(&s, "u@x.test", T0);
    assert_eq!(
        (a.status, a.text.as_str(), probe),
        (AddrStatus::Todo, IN_PROGRESS, true)
    );
    // Asked again while the probe is out: no second probe (Postfix's PROBE_TTL).
    let (a, probe) = c.query(&s, "u@x.test", T0 + 3);
    assert_eq!((a.status, probe), (AddrStatus::Todo, false));
    // A lost probe is sent again after 1000 seconds.
    let (_, probe) = c.query(&s, "u@x.test", T0 + PROBE_TTL + 1);
    assert!(probe);
    c.update(
        &s,
        "u@x.test",
        AddrStatus::Ok,
        "delivers to mailbox",
        T0 + 1002,
    );
    let (a, probe) = c.query(&s, "u@x.test", T0 + 1003);
    assert_eq!(
        (a.status, a.text.as_str(), probe),
        (AddrStatus::Ok, "delivers to mailbox", false)
    );
}

#[test]
fn answers_are_refreshed_then_expire() {
    let (c, s) = (Cache::new(), settings());
    c.update(&s, "ok@x.test", AddrStatus::Ok, "fine", T0);
    c.update(&s, "no@x.test", AddrStatus::Bounce, "unknown user", T0);
    // Past the negative refresh time: the old answer, and a new probe.
    let (a, probe) = c.query(&s, "no@x.test", T0 + s.negative_refresh + 1);
    assert_eq!((a.status, probe), (AddrStatus::Bounce, true));
    let (a, probe) = c.query(&s, "ok@x.test", T0 + s.negative_refresh + 1);
    assert_eq!((a.status, probe), (AddrStatus::Ok, false));
    let (a, probe) = c.query(&s, "ok@x.test", T0 + s.positive_refresh + 1);
    assert_eq!((a.status, probe), (AddrStatus::Ok, true));
    // Expired, and no probe under way: unknown again.
    let late = T0 + s.positive_expire + 2 * PROBE_TTL;
    let (a, probe) = c.query(&s, "ok@x.test", late);
    assert_eq!((a.status, probe), (AddrStatus::Todo, true));
}

#[test]
fn a_failure_never_replaces_a_deliverable_answer() {
    let (c, s) = (Cache::new(), settings());
    c.update(&s, "u@x.test", AddrStatus::Ok, "fine", T0);
    c.update(&s, "u@x.test", AddrStatus::Defer, "timed out", T0 + 1);
    c.update(&s, "u@x.test", AddrStatus::Bounce, "gone", T0 + 2);
    assert_eq!(c.query(&s, "u@x.test", T0 + 3).0.text, "fine");
    // A failure is replaced by success, and by a newer failure.
    c.update(&s, "v@x.test", AddrStatus::Defer, "timed out", T0);
    c.update(&s, "v@x.test", AddrStatus::Bounce, "gone", T0 + 1);
    assert_eq!(c.query(&s, "v@x.test", T0 + 2).0.status, AddrStatus::Bounce);
    c.update(&s, "v@x.test", AddrStatus::Ok, "back", T0 + 3);
    assert_eq!(c.query(&s, "v@x.test", T0 + 4).0.status, AddrStatus::Ok);
}

#[test]
fn without_the_negative_cache_only_success_is_kept() {
    let (c, mut s) = (Cache::new(), settings());
    s.negative_cache = false;
    c.update(&s, "no@x.test", AddrStatus::Bounce, "unknown user", T0);
    assert!(c.is_empty());
    // Nothing kept for a probe under way either: every query probes (as Postfix).
    assert!(c.query(&s, "no@x.test", T0).1);
    assert!(c.query(&s, "no@x.test", T0 + 1).1);
    c.update(&s, "ok@x.test", AddrStatus::Ok, "fine", T0);
    assert_eq!(c.query(&s, "ok@x.test", T0 + 1).0.status, AddrStatus::Ok);
}

#[test]
fn ipv6_literals_share_one_key_and_expired_entries_are_swept() {
    let (c, s) = (Cache::new(), settings());
    c.update(&s, "u@[ipv6:2001:db8::1]", AddrStatus::Ok, "fine", T0);
    assert_eq!(
        c.query(&s, "u@[ipv6:2001_db8__1]", T0 + 1).0.status,
        AddrStatus::Ok
    );
    c.update(&s, "gone@x.test", AddrStatus::Bounce, "no", T0);
    assert_eq!(c.len(), 2);
    // A sweep after the cleanup interval drops what expired (not the live answer).
    let later = T0 + s.negative_expire + s.cleanup_interval;
    c.query(&s, "other@x.test", later);
    assert_eq!(c.len(), 2, "u@[...] and other@x.test's probe remain");
}

#[test]
fn a_full_cache_evicts_and_still_limits_probes() {
    let (c, s) = (Cache::new(), settings());
    c.update(&s, "ok@x.test", AddrStatus::Ok, "fine", T0);
    for i in 0..MAX_ENTRIES + 10 {
        c.update(&s, &format!("u{}@x.test", i), AddrStatus::Bounce, "no", T0);
    }
    assert_eq!(c.len(), MAX_ENTRIES);
    // A new address is probed once, and remembered as under way.
    let (a, probe) = c.query(&s, "new@x.test", T0 + 1);
    assert_eq!((a.status, probe), (AddrStatus::Todo, true));
    assert!(!c.query(&s, "new@x.test", T0 + 2).1, "no second probe");
    c.update(&s, "new@x.test", AddrStatus::Ok, "fine", T0 + 3);
    assert_eq!(c.query(&s, "new@x.test", T0 + 4).0.status, AddrStatus::Ok);
    assert_eq!(c.len(), MAX_ENTRIES);
    // Undeliverable entries go first.
    assert_eq!(c.query(&s, "ok@x.test", T0 + 5).0.status, AddrStatus::Ok);
}

#[test]
fn stored_text_is_printable_and_bounded() {
    let (c, s) = (Cache::new(), settings());
    let long = format!("550 bad\r\n{}", "x".repeat(10_000));
    c.update(&s, "u@x.test", AddrStatus::Bounce, &long, T0);
    let text = c.query(&s, "u@x.test", T0 + 1).0.text;
    assert_eq!(text.chars().count(), MAX_TEXT);
    assert!(!text.contains('\r') && !text.contains('\n'), "{text:?}");
}
