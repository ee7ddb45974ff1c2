use super::*;
use crate::queue::Recipient;
use std::time::SystemTime;

fn agent(args: &str, pairs: &[(&str, &str)]) -> Pipe {
    let mut all = vec![("mail_owner", "daemon"), ("setgid_group", "no-such-group")];
    all.extend_from_slice(pairs);
    let cfg = Config::from_pairs(Path::new("/nonexistent"), &all);
    let args: Vec<String> = args.split_whitespace().map(String::from).collect();
    Pipe::new("filter", &args, Arc::new(cfg), None)
}

fn deliver(p: &Pipe, rcpts: &[&str], content: &[u8]) -> Vec<Outcome> {
    let rcpts: Vec<Recipient> = rcpts.iter().map(|a| Recipient::new(a)).collect();
    let req = Request {
        queue_id: "ABC123",
        sender: "s@x.test",
        arrival: SystemTime::now(),
        content,
        recipients: &rcpts,
        nexthop: "x.test",
        ret: None,
        envid: None,
        attrs: &[],
    };
    p.deliver(&req)
}

#[test]
fn bad_entries_defer_every_recipient() {
    let p = agent("flags=R argv=/bin/cat", &[]);
    assert_eq!(
        p.config_error().as_deref(),
        Some("missing user= command-line attribute")
    );
    let out = deliver(&p, &["a@x.test", "b@x.test"], b"x\n");
    assert_eq!(out.len(), 2);
    for o in &out {
        assert_eq!((o.status, o.dsn.as_str()), (Status::Deferred, "4.3.5"));
        assert_eq!(
            (o.text.as_str(), o.relay.as_str()),
            ("mail system configuration error", "filter")
        );
    }
}

#[test]
fn checks_before_the_command() {
    let multi = agent("flags=D user=nobody argv=/bin/cat", &[]);
    let out = deliver(&multi, &["a@x.test", "b@x.test"], b"x\n");
    assert_eq!(out[1].dsn.as_str(), "4.3.5");
    let big = agent("size=3 user=nobody argv=/bin/cat", &[]);
    let out = deliver(&big, &["a@x.test"], b"four\n");
    assert_eq!(
        (out[0].status, out[0].dsn.as_str()),
        (Status::Bounced, "5.2.3")
    );
    assert_eq!(out[0].text, "message too large");
    let looped = agent("flags=D user=nobody argv=/bin/cat", &[]);
    let out = deliver(&looped, &["A@x.test"], b"Delivered-To: a@x.test\n\nx\n");
    assert_eq!(
        (out[0].dsn.as_str(), out[0].text.as_str()),
        ("5.4.6", "mail forwarding loop for A@x.test")
    );
    let unknown = agent("user=nobody argv=/bin/cat ${nosuch}", &[]);
    let out = deliver(&unknown, &["a@x.test"], b"x\n");
    assert_eq!(out[0].dsn.as_str(), "4.3.5");
}

#[test]
fn time_limit_per_service() {
    let p = agent("user=nobody argv=/bin/cat", &[("command_time_limit", "7s")]);
    assert_eq!(p.limit(), std::time::Duration::from_secs(7));
    let p = agent("user=nobody argv=/bin/cat", &[("filter_time_limit", "3s")]);
    assert_eq!(p.limit(), std::time::Duration::from_secs(3));
}

#[test]
fn verify_names_the_program() {
    let p = agent("user=nobody argv=/usr/bin/maildrop -d ${recipient}", &[]);
    let rcpts = [Recipient::new("a@x.test")];
    let req = Request {
        queue_id: "ABC123",
        sender: "s@x.test",
        arrival: SystemTime::now(),
        content: b"x\n",
        recipients: &rcpts,
        nexthop: "x.test",
        ret: None,
        envid: None,
        attrs: &[],
    };
    let out = p.verify(&req);
    assert_eq!(out[0].status, Status::Sent);
    assert_eq!(out[0].text, "delivers to command: /usr/bin/maildrop");
}
