use super::*;
use std::path::Path;

fn rewrite(pairs: &[(&str, &str)]) -> Rewrite {
    let mut all = vec![("myhostname", "www.a.org")];
    all.extend_from_slice(pairs);
    Rewrite::new(&Config::from_pairs(Path::new("/x"), &all))
}

#[test]
fn local_class_is_mydestination() {
    let rw = rewrite(&[]);
    assert!(rw.is_local("www.a.org") && rw.is_local("WWW.A.Org"));
    assert!(rw.is_local("localhost") && rw.is_local("www.a.org."));
    assert!(
        !rw.is_local("www.a.org.."),
        "one trailing dot only, as resolve_local"
    );
    assert!(!rw.is_local("") && !rw.is_local("a.org") && !rw.is_local("x.www.a.org"));
    assert_eq!(rw.class_of("www.a.org"), Ok(AddressClass::Local));
    assert_eq!(
        rw.class_of(""),
        Ok(AddressClass::Local),
        "an unqualified address"
    );
}

#[test]
fn address_literals_of_this_host_are_local() {
    let rw = rewrite(&[
        ("inet_interfaces", "127.0.0.1"),
        ("proxy_interfaces", "192.0.2.1"),
    ]);
    assert_eq!(rw.class_of("[127.0.0.1]"), Ok(AddressClass::Local));
    assert_eq!(rw.class_of("[192.0.2.1]"), Ok(AddressClass::Local));
    assert_eq!(rw.class_of("[192.0.2.2]"), Ok(AddressClass::Default));
    assert_eq!(
        rw.unroute("user%remote.test@[127.0.0.1]"),
        ("user@remote.test".into(), true)
    );
}

#[test]
fn relay_class_with_and_without_parent_matching() {
    let rw = rewrite(&[("relay_domains", "r.test, .s.test")]);
    assert_eq!(rw.class_of("r.test"), Ok(AddressClass::Relay));
    assert_eq!(
        rw.class_of("MX.R.TEST"),
        Ok(AddressClass::Relay),
        "default parent match"
    );
    assert_eq!(rw.class_of("a.s.test"), Ok(AddressClass::Relay));
    assert_eq!(rw.class_of("notr.test"), Ok(AddressClass::Default));
    assert_eq!(rw.relay_domains(), ["r.test", ".s.test"]);
    let exact = rewrite(&[
        ("relay_domains", "r.test"),
        ("parent_domain_matches_subdomains", ""),
    ]);
    assert_eq!(exact.class_of("mx.r.test"), Ok(AddressClass::Default));
    assert_eq!(exact.class_of("r.test"), Ok(AddressClass::Relay));
}

#[test]
fn local_comes_before_relay() {
    let rw = rewrite(&[]);
    assert!(rw.is_relay("www.a.org"), "relay_domains = $mydestination");
    assert_eq!(rw.class_of("www.a.org"), Ok(AddressClass::Local));
}

#[test]
fn virtual_classes() {
    let rw = rewrite(&[
        ("virtual_alias_domains", "va.test, inline:{ vt.test=x }"),
        ("virtual_mailbox_domains", "vm.test va.test"),
        ("relay_domains", "vm.test"),
    ]);
    assert_eq!(rw.class_of("VA.test."), Ok(AddressClass::VirtualAlias));
    assert_eq!(rw.class_of("vt.test"), Ok(AddressClass::VirtualAlias));
    assert_eq!(rw.class_of("vm.test"), Ok(AddressClass::VirtualMailbox));
    assert_eq!(
        rw.class_of("x.vm.test"),
        Ok(AddressClass::Relay),
        "virtual lists have no subdomains; relay_domains does"
    );
    assert_eq!(rw.class_of("x.va.test"), Ok(AddressClass::Default));
    assert_eq!(
        rw.overlaps("va.test", AddressClass::VirtualAlias),
        ["do not list domain va.test in BOTH virtual_alias_domains and virtual_mailbox_domains"]
    );
    assert_eq!(
        rw.overlaps("vm.test", AddressClass::VirtualMailbox),
        ["do not list domain vm.test in BOTH virtual_mailbox_domains and relay_domains"]
    );
}

#[test]
fn virtual_domains_default_to_their_maps() {
    let rw = rewrite(&[
        (
            "virtual_alias_maps",
            "inline:{ a@va.test=b@c.test, va.test=x }",
        ),
        ("virtual_mailbox_maps", "inline:{ vm.test=x }"),
    ]);
    assert_eq!(rw.class_of("va.test"), Ok(AddressClass::VirtualAlias));
    assert_eq!(rw.class_of("vm.test"), Ok(AddressClass::VirtualMailbox));
    assert_eq!(
        rw.virtual_alias_maps()
            .lookup("a@va.test")
            .unwrap()
            .as_deref(),
        Some("b@c.test")
    );
}

#[test]
fn mydestination_wins_with_a_warning() {
    let rw = rewrite(&[("virtual_alias_domains", "www.a.org")]);
    assert_eq!(rw.class_of("www.a.org"), Ok(AddressClass::Local));
    assert_eq!(
        rw.overlaps("www.a.org", AddressClass::Local),
        ["do not list domain www.a.org in BOTH mydestination and virtual_alias_domains"]
    );
}

#[test]
fn virtual_lookup_errors_are_errors() {
    let rw = rewrite(&[("virtual_mailbox_domains", "fail:x")]);
    let e = rw.class_of("any.test").unwrap_err();
    assert_eq!(e.to_string(), "virtual_mailbox_domains lookup failure");
    assert_eq!(rw.class_of("www.a.org"), Ok(AddressClass::Local));
}

#[test]
fn default_class() {
    assert_eq!(rewrite(&[]).class_of("qq.com"), Ok(AddressClass::Default));
}

#[test]
fn tables_in_domain_lists_are_reported() {
    let rw = rewrite(&[
        ("mydestination", "www.a.org, hash:/etc/postfix/mydest"),
        ("relay_domains", "/etc/postfix/relay r.test"),
    ]);
    let ignored: Vec<&String> = rw.ignored().collect();
    assert_eq!(ignored, ["hash:/etc/postfix/mydest", "/etc/postfix/relay"]);
    assert!(rw.is_local("www.a.org") && rw.is_relay("r.test"));
}

#[test]
fn unquoting() {
    assert_eq!(unquote("\"user@remote\""), "user@remote");
    assert_eq!(unquote("a\\\"b"), "a\"b");
}

#[test]
fn routing_operators_are_resolved_for_our_domains_only() {
    let rw = rewrite(&[]);
    let un = |a: &str| rw.unroute(a);
    assert_eq!(
        un("user%remote.test@www.a.org"),
        ("user@remote.test".into(), true)
    );
    assert_eq!(
        un("remote.test!user@www.a.org"),
        ("user@remote.test".into(), true)
    );
    assert_eq!(
        un("\"user@remote.test\"@www.a.org"),
        ("user@remote.test".into(), true)
    );
    assert_eq!(
        un("a%b@elsewhere.test"),
        ("a%b@elsewhere.test".into(), true)
    );
    assert_eq!(un("plain@www.a.org"), ("plain@www.a.org".into(), false));
    assert_eq!(un("a%b%c@localhost"), ("a%b@c".into(), true));
    let off = rewrite(&[("allow_percent_hack", "no"), ("swap_bangpath", "no")]);
    assert_eq!(
        off.unroute("user%remote.test@www.a.org"),
        ("user%remote.test@www.a.org".into(), false)
    );
    assert_eq!(
        off.unroute("h!user@www.a.org"),
        ("h!user@www.a.org".into(), false)
    );
}

#[test]
fn splitting_follows_the_configuration() {
    let rw = rewrite(&[("recipient_delimiter", "+")]);
    assert_eq!(rw.split("user+ext"), ("user", Some("ext")));
    assert_eq!(rw.split("+ext"), ("+ext", None));
    assert_eq!(rewrite(&[]).split("user+ext"), ("user+ext", None));
}
