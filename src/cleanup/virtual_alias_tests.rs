use super::*;
use std::path::Path;

fn setup(maps: &str, extra: &[(&str, &str)]) -> (Config, Rewrite) {
    let mut pairs = vec![
        ("myhostname", "h.test"),
        ("recipient_delimiter", "+"),
        ("virtual_alias_maps", maps),
    ];
    pairs.extend_from_slice(extra);
    let cfg = Config::from_pairs(Path::new("/x"), &pairs);
    let rw = Rewrite::new(&cfg);
    (cfg, rw)
}

fn run(maps: &str, extra: &[(&str, &str)], rcpt: &str) -> Result<Vec<Recipient>, AliasError> {
    let (cfg, rw) = setup(maps, extra);
    expand_all(&cfg, &rw, "QID", vec![Recipient::new(rcpt)])
}

fn addrs(r: &[Recipient]) -> Vec<&str> {
    r.iter().map(|r| r.address.as_str()).collect()
}

#[test]
fn one_to_many_recursive_with_original() {
    let maps = "inline:{ a@v.test=b@v.test, { b@v.test = c@v.test, u@h.test }, c@v.test=z@x.test }";
    let r = run(maps, &[], "A@v.test").unwrap();
    assert_eq!(addrs(&r), ["z@x.test", "u@h.test"]);
    assert!(r.iter().all(|r| r.orig.as_deref() == Some("A@v.test")));
    let r = run(maps, &[], "other@x.test").unwrap();
    assert_eq!(addrs(&r), ["other@x.test"]);
    assert_eq!(r[0].orig, None, "unchanged recipients are untouched");
}

#[test]
fn catch_all_and_other_domain() {
    let maps = "inline:{ a@v.test=a@h.test, @v.test=catch@h.test, @w.test=@h.test }";
    assert_eq!(addrs(&run(maps, &[], "a@v.test").unwrap()), ["a@h.test"]);
    assert_eq!(
        addrs(&run(maps, &[], "zz@v.test").unwrap()),
        ["catch@h.test"]
    );
    assert_eq!(addrs(&run(maps, &[], "me@w.test").unwrap()), ["me@h.test"]);
    assert_eq!(
        addrs(&run(maps, &[], "me+x@w.test").unwrap()),
        ["me+x@h.test"]
    );
}

#[test]
fn extensions_propagate_unless_turned_off() {
    let maps = "inline:{ a@v.test=b@h.test }";
    assert_eq!(
        addrs(&run(maps, &[], "a+ext@v.test").unwrap()),
        ["b+ext@h.test"]
    );
    let off = [("propagate_unmatched_extensions", "canonical")];
    assert_eq!(
        addrs(&run(maps, &off, "a+ext@v.test").unwrap()),
        ["b@h.test"]
    );
}

#[test]
fn self_mapping_stops() {
    let maps = "inline:{ { a@v.test = a@v.test, b@h.test } }";
    assert_eq!(
        addrs(&run(maps, &[], "a@v.test").unwrap()),
        ["a@v.test", "b@h.test"]
    );
}

#[test]
fn limits_and_errors_refuse_the_message() {
    let loop_maps = "inline:{ a@v.test=b@v.test, b@v.test=a@v.test }";
    assert_eq!(run(loop_maps, &[], "a@v.test"), Err(AliasError::Limit));
    let wide = "inline:{ { a@v.test = b@h.test, c@h.test, d@h.test } }";
    let small = [("virtual_alias_expansion_limit", "2")];
    assert_eq!(run(wide, &small, "a@v.test"), Err(AliasError::Limit));
    assert_eq!(addrs(&run(wide, &[], "a@v.test").unwrap()).len(), 3);
    assert_eq!(run("fail:x", &[], "a@v.test"), Err(AliasError::Lookup));
}

#[test]
fn bare_local_part_only_for_our_domains() {
    let maps = "inline:{ u=x@y.test }";
    assert_eq!(addrs(&run(maps, &[], "u@h.test").unwrap()), ["x@y.test"]);
    assert_eq!(
        addrs(&run(maps, &[], "u@other.test").unwrap()),
        ["u@other.test"]
    );
}

#[test]
fn overlong_results_refuse_the_message() {
    let maps = "inline:{ a@v.test=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb@h.test }";
    let short = [("line_length_limit", "100")];
    assert_eq!(run(maps, &short, "a@v.test"), Err(AliasError::Limit));
}
