use super::*;
use crate::dns::MxHost;
use std::sync::Mutex;

const DEFAULT: &str = "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using \
                       $rbl_domain${rbl_reason?; $rbl_reason}";

/// A list zone: names with their A records and TXT texts; `fail.` names fail.
#[derive(Default)]
struct Zone {
    a: Vec<(&'static str, Ipv4Addr)>,
    txt: Vec<(&'static str, &'static str)>,
    asked: Mutex<Vec<String>>,
}

impl Resolve for Zone {
    fn mx(&self, _: &str) -> Result<Vec<MxHost>, DnsError> {
        unreachable!()
    }
    fn addrs(&self, _: &str) -> Result<Vec<IpAddr>, DnsError> {
        unreachable!()
    }
    fn ipv4(&self, name: &str) -> Result<Vec<Ipv4Addr>, DnsError> {
        self.asked.lock().unwrap().push(format!("A {name}"));
        if name.starts_with("fail.") {
            return Err(DnsError::TempFail("SERVFAIL".into()));
        }
        let found: Vec<Ipv4Addr> = self
            .a
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .collect();
        if found.is_empty() {
            return Err(DnsError::NotFound("NXDOMAIN".into()));
        }
        Ok(found)
    }
    fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        self.asked.lock().unwrap().push(format!("TXT {name}"));
        Ok(self
            .txt
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, t)| t.to_string())
            .collect())
    }
}

#[test]
fn sites_and_result_filters() {
    let s = parse_site("Zen.Spamhaus.org.").unwrap();
    assert_eq!(s.domain, "zen.spamhaus.org");
    assert!(s.accepts(Ipv4Addr::new(127, 0, 0, 9)));
    let s = parse_site("bl.test=127.0.0.[2..4;10]").unwrap();
    assert!(s.accepts(Ipv4Addr::new(127, 0, 0, 3)));
    assert!(s.accepts(Ipv4Addr::new(127, 0, 0, 10)));
    assert!(!s.accepts(Ipv4Addr::new(127, 0, 0, 5)));
    assert!(!s.accepts(Ipv4Addr::new(127, 0, 1, 3)));
    let s = parse_site("bl.test=[127.0.0.2]").unwrap();
    assert!(s.accepts(Ipv4Addr::new(127, 0, 0, 2)) && !s.accepts(Ipv4Addr::new(127, 0, 0, 3)));
    assert_eq!(s.arg, "bl.test=[127.0.0.2]");
    let s = parse_site("bl.test=127.0.0.2").unwrap();
    assert!(s.accepts(Ipv4Addr::new(127, 0, 0, 2)) && !s.accepts(Ipv4Addr::new(127, 0, 0, 3)));
    for bad in [
        "",
        "=127.0.0.2",
        "bl.test=127.0.0",
        "bl.test=127.0.0.256",
        "bl.test=1.2.3.[4..2]",
        "bl.test=1.2.3.[x]",
        "bl.test=1.2.3.+4",
        "bad name",
        "bl.test=1.2.3.4.5",
    ] {
        assert!(parse_site(bad).is_err(), "{bad}");
    }
}

#[test]
fn query_names_for_addresses_and_domains() {
    assert_eq!(
        address_query("192.0.2.99".parse().unwrap(), "bl.test"),
        "99.2.0.192.bl.test"
    );
    assert_eq!(
        address_query("2001:db8::1".parse().unwrap(), "bl.test"),
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test"
    );
    assert_eq!(
        domain_query("User@Spam.Example.", "dbl.test").as_deref(),
        Some("spam.example.dbl.test")
    );
    assert_eq!(
        domain_query("helo.example", "dbl.test").as_deref(),
        Some("helo.example.dbl.test")
    );
    assert_eq!(domain_query("u@[192.0.2.1]", "dbl.test"), None);
    assert_eq!(domain_query("user@", "dbl.test"), None);
    assert_eq!(domain_query("u@bad name", "dbl.test"), None);
    // Never an address or a name that would leave the list's zone.
    assert_eq!(domain_query("192.0.2.1", "dbl.test"), None);
    assert_eq!(domain_query("u@host.123", "dbl.test"), None);
    assert_eq!(domain_query("x\\", "dbl.test"), None);
    assert_eq!(
        domain_query("a.b-c_d.example", "dbl.test").as_deref(),
        Some("a.b-c_d.example.dbl.test")
    );
}

#[test]
fn listed_not_listed_filtered_failed_and_cached() {
    let zone = Zone {
        a: vec![
            ("2.0.0.127.bl.test", Ipv4Addr::new(127, 0, 0, 2)),
            ("3.0.0.127.bl.test", Ipv4Addr::new(127, 0, 0, 10)),
        ],
        txt: vec![(
            "2.0.0.127.bl.test",
            "see http://bl.test/?2\r\nInjected: yes",
        )],
        ..Default::default()
    };
    let any = parse_site("bl.test").unwrap();
    let only2 = parse_site("bl.test=127.0.0.2").unwrap();
    let listed = lookup(Some(&zone), "2.0.0.127.bl.test", &any);
    assert_eq!(
        listed,
        Listing::Listed("see http://bl.test/?2__Injected: yes".into())
    );
    assert_eq!(
        lookup(Some(&zone), "3.0.0.127.bl.test", &only2),
        Listing::NotListed
    );
    assert_eq!(
        lookup(Some(&zone), "3.0.0.127.bl.test", &any),
        Listing::Listed(String::new())
    );
    assert_eq!(
        lookup(Some(&zone), "9.0.0.127.bl.test", &any),
        Listing::NotListed
    );
    assert_eq!(lookup(Some(&zone), "fail.bl.test", &any), Listing::Failed);
    assert_eq!(lookup(None, "2.0.0.127.other.test", &any), Listing::Failed);
    // Asked again: the answers come from the cache; the failure is asked again.
    let before = zone.asked.lock().unwrap().len();
    assert!(matches!(
        lookup(Some(&zone), "2.0.0.127.bl.test", &any),
        Listing::Listed(_)
    ));
    assert_eq!(
        lookup(Some(&zone), "9.0.0.127.bl.test", &any),
        Listing::NotListed
    );
    assert_eq!(lookup(Some(&zone), "fail.bl.test", &any), Listing::Failed);
    let asked = zone.asked.lock().unwrap();
    assert_eq!(asked[before..], ["A fail.bl.test".to_string()]);
}

fn rejection<'a>(
    template: &'a str,
    reason: &'a str,
    macros: &'a dyn Fn(&str) -> Option<String>,
) -> Rejection<'a> {
    Rejection {
        code: 554,
        template,
        domain: "bl.test",
        what: "192.0.2.99",
        class: "Client host",
        reason,
        macros,
    }
}

#[test]
fn replies_from_templates() {
    let none = |_: &str| None;
    let r = reply(&rejection(
        DEFAULT,
        "listed, see $client_address ${x}",
        &none,
    ))
    .unwrap();
    assert_eq!(
        r.to_string(),
        "554 5.7.1 Service unavailable; Client host [192.0.2.99] blocked using bl.test; \
         listed, see $client_address ${x}"
    );
    let r = reply(&rejection(DEFAULT, "", &none)).unwrap();
    assert_eq!(
        r.to_string(),
        "554 5.7.1 Service unavailable; Client host [192.0.2.99] blocked using bl.test"
    );
    let helo = |n: &str| (n == "helo_name").then(|| "evil\r\n250 ok".to_string());
    let r = reply(&rejection(
        "450 4.7.2 $rbl_domain says no to $helo_name",
        "",
        &helo,
    ))
    .unwrap();
    assert_eq!(r.to_string(), "450 4.7.2 bl.test says no to evil__250 ok");
    // The DSN's first digit is the code's; no text is "Service unavailable".
    assert_eq!(
        reply(&rejection("550 4.7.2 no", "", &none))
            .unwrap()
            .to_string(),
        "550 5.7.2 no"
    );
    assert_eq!(
        reply(&rejection("550", "", &none)).unwrap().to_string(),
        "550 5.7.1 Service unavailable"
    );
    // Cut at 510 bytes, as Postfix cuts a reply.
    let long = "x".repeat(2000);
    let r = reply(&rejection(DEFAULT, &long, &none)).unwrap();
    assert_eq!(r.to_string().len(), 510, "{r}");
    assert_eq!(
        reply(&rejection("554 $nosuch", "", &none)),
        Err(TemplateError::UnknownName("nosuch".into()))
    );
    for bad in ["Service unavailable", "250 fine", "$rbl_what"] {
        assert!(
            matches!(
                reply(&rejection(bad, "", &none)),
                Err(TemplateError::BadCode(_))
            ),
            "{bad}"
        );
    }
}
