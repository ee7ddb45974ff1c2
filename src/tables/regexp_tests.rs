//! Unit tests for regexp.rs (regexp and pcre rule files).

use super::*;
use std::fs;

fn rules(text: &str) -> Rules {
    Rules::parse(text, "/etc/postfix/x", Dialect::Regexp).unwrap()
}

fn err(text: &str) -> String {
    Rules::parse(text, "/etc/postfix/x", Dialect::Regexp).unwrap_err()
}

#[test]
fn first_match_wins_case_insensitive_by_default() {
    let r = rules("/^root@/ REJECT no root\n/@example\\.com$/ OK\n/./ DUNNO\n");
    assert_eq!(r.lookup("ROOT@x").as_deref(), Some("REJECT no root"));
    assert_eq!(r.lookup("a@Example.COM").as_deref(), Some("OK"));
    assert_eq!(r.lookup("zz").as_deref(), Some("DUNNO"));
    assert_eq!(r.lookup("").as_deref(), None);
    let cs = rules("/^abc$/i yes\n");
    assert_eq!(cs.lookup("abc").as_deref(), Some("yes"));
    assert_eq!(cs.lookup("ABC"), None, "i toggles case-insensitivity off");
}

#[test]
fn negation_and_other_delimiters() {
    let r = rules("!/@example\\.com$/ REJECT outsider\n");
    assert_eq!(r.lookup("a@other.org").as_deref(), Some("REJECT outsider"));
    assert_eq!(r.lookup("a@example.com"), None);
    let d = rules("%^/usr/(bin|sbin)%  ${1}dir\n");
    assert_eq!(d.lookup("/usr/sbin/x").as_deref(), Some("sbindir"));
    let esc = rules("/a\\/b/ slash\n");
    assert_eq!(esc.lookup("xa/by").as_deref(), Some("slash"));
}

#[test]
fn substitution() {
    let r = rules("/^(.*)-(.*)@(example\\.com)$/ $2+$1@${3} costs $$5 (x)\n");
    assert_eq!(
        r.lookup("user-ext@example.com").as_deref(),
        Some("ext+user@example.com costs $5 (x)")
    );
    let opt = rules("/^(a)?b$/ [$1]\n");
    assert_eq!(opt.lookup("b").as_deref(), Some("[]"));
    assert!(err("/(a)/ $2\n").contains("out of range replacement index \"$2\""));
    assert!(err("!/(a)/ $1\n").contains("negated"));
}

#[test]
fn nested_if_endif() {
    let text = "if /@example\\.com$/\nif !/^admin/\n/^(.*)@/ user $1\nendif\n/./ admin\nendif\n/./ other\n";
    let r = rules(text);
    assert_eq!(r.lookup("joe@example.com").as_deref(), Some("user joe"));
    assert_eq!(r.lookup("admin@example.com").as_deref(), Some("admin"));
    assert_eq!(r.lookup("joe@else.org").as_deref(), Some("other"));
}

#[test]
fn continuation_lines_and_comments() {
    let r = rules("# comment\n/^a$/ first\n   second\n\n");
    assert_eq!(r.lookup("a").as_deref(), Some("first second"));
}

#[test]
fn syntax_errors_name_file_and_line() {
    assert_eq!(
        err("/a/ x\n\n/b/ y\nbogus\n"),
        "regexp map /etc/postfix/x, line 4: expected /pattern/ at \"bogus\""
    );
    assert_eq!(
        err("/a/ ok\n/(unclosed/ x\n")
            .split(": invalid")
            .next()
            .unwrap(),
        "regexp map /etc/postfix/x, line 2"
    );
    assert!(err("/(unclosed/ x\n").contains("invalid pattern /(unclosed/: unclosed group"));
    assert!(err("/a x\n").contains("line 1: missing closing \"/\""));
    assert!(err("/a/\n").contains("no result text"));
    assert!(err("/a/q x\n").contains("unknown regexp option \"q\""));
    assert!(err("/a/x y\n").contains("basic regular expressions"));
    assert!(err("endif\n").contains("line 1: \"endif\" without a matching \"if\""));
    assert!(err("/a/ b\nif /x/\n/y/ z\n").contains("line 2: \"if\" without a matching \"endif\""));
    assert!(err("if /x/ text\nendif\n").contains("extra text"));
    let pcre = Rules::parse("/a/ x\n/(?<=a)b/ y\n", "/p", Dialect::Pcre).unwrap_err();
    assert!(
        pcre.starts_with("pcre map /p, line 2: invalid pattern"),
        "{}",
        pcre
    );
}

#[test]
fn table_reloads_and_reports_load_errors() {
    let dir = std::env::temp_dir().join(format!("postern-re-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join("checks");
    fs::write(&p, "/^a/ one\n").unwrap();
    let t = RegexpTable::open(Dialect::Regexp, p.to_str().unwrap());
    assert_eq!(t.spec(), format!("regexp:{}", p.display()));
    assert_eq!(t.lookup("abc").unwrap().as_deref(), Some("one"));
    fs::write(&p, "/^a/ two, longer\n/[z/ bad\n").unwrap();
    let e = t.lookup("abc").unwrap_err();
    assert!(matches!(e, TableError::Unavailable { .. }));
    assert!(
        e.to_string().starts_with(&format!(
            "regexp:{} is unavailable. regexp map {}, line 2: invalid pattern /[z/",
            p.display(),
            p.display()
        )),
        "{}",
        e
    );
    assert!(
        t.lookup("zzz").is_err(),
        "every lookup fails, none is 'not found'"
    );
    fs::write(&p, "/^a/ three\n").unwrap();
    assert_eq!(t.lookup("abc").unwrap().as_deref(), Some("three"));
    let pc = RegexpTable::open(Dialect::Pcre, p.to_str().unwrap());
    assert_eq!(pc.lookup("ABC").unwrap().as_deref(), Some("three"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsupported_pcre_features_are_clear_errors() {
    let e = pcre_compile("foo(?=bar)", "").unwrap_err();
    assert!(e.starts_with("invalid pattern /foo(?=bar)/: "), "{}", e);
    assert!(e.contains("look-around"), "{}", e);
    assert!(pcre_compile(r"(a)\1", "").is_err());
}

#[test]
fn dot_matches_a_newline_unless_multi_line() {
    let r = rules("/^Subject: a.b$/ whole\n");
    assert_eq!(r.lookup("Subject: a\nb").as_deref(), Some("whole"));
    let m = rules("/^b$/m line\n/a.b/m dot\n");
    assert_eq!(m.lookup("Subject: a\nb").as_deref(), Some("line"));
    assert_eq!(m.lookup("xa\nbx\n").as_deref(), None);
}
