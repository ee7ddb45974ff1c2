//! postern-bench: an SMTP load generator for Postern (or any SMTP server, Postfix included).
//!
//! N sessions (one thread and one blocking TCP connection each) share M messages of a given
//! size. Each session sends EHLO, then per message MAIL FROM and the RCPT TOs in one write when
//! the server offers PIPELINING (RFC 2920), then DATA, the dot-stuffed content (RFC 5321
//! 4.5.2) and the final ".", timing the wait from the final "." to the 250 reply. With `--mbox`
//! (an mbox file) or `--maildir` (a maildir: files in new/ and cur/) it waits until the
//! mailbox holds every accepted message and reports end-to-end delivered messages per second
//! (with `--drain QUEUE_DIRECTORY`: until that spool's incoming/, active/ and deferred/ are
//! empty, for mail that is discarded or relayed rather than delivered into a mailbox);
//! with `--pid` it reports the server's peak resident set (VmHWM from /proc/PID/status).
//!
//! Submission sessions: `--starttls` sends STARTTLS after the first EHLO (RFC 3207), does the
//! TLS handshake with native-tls accepting any certificate and host name (a bench, not a
//! verifier), then EHLO again; `--auth USER:PASSWORD` sends AUTH PLAIN with the initial
//! response (RFC 4954, RFC 4616) after that. `--connect-per-message` opens a new connection
//! for every message (greeting, EHLO, [STARTTLS, EHLO,] [AUTH,] MAIL/RCPT/DATA, QUIT), so
//! the last column, sessions/s (completed sessions per second of sending), equals messages/s
//! and measures whole submission sessions; without it each of the N sessions sends its share
//! of the messages over one connection.
//!
//! `--idle N` sends nothing: it holds N greeted, silent sessions open, then reports the
//! server's resident memory before and with them (the process given by `--pid` and all its
//! descendants) and the median and worst of 10 new clients' greeting times meanwhile.
//!
//! Security role: none; it is a client. It refuses non-loopback targets unless
//! `--allow-remote` is given, and every count, size and wait is bounded. The `--auth` password
//! is given on the command line (a bench account's, never a real one) and is never printed. It logs nothing; the
//! result is one table row on standard output, problems go to standard error.

use native_tls::TlsConnector;
use postern::bench::BenchError;
use postern::bench::opts::{Mailbox, Opts, auth_plain_command, parse_args, resolve};
use postern::bench::pace::Pace;
use postern::bench::smtp::{Reply, make_message, offers, read_reply};
use postern::bench::stats::{MboxCounter, count_maildir, count_queued, parse_vmhwm, percentile};
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Counts the messages in a `Mailbox` as they arrive.
#[derive(Debug)]
struct Delivered {
    mailbox: Mailbox,
    mbox: MboxCounter,
}

impl Delivered {
    fn new(mailbox: Mailbox) -> Delivered {
        Delivered {
            mailbox,
            mbox: MboxCounter::default(),
        }
    }

    /// How many messages the mailbox holds now (for a spool: how many are still queued).
    fn count(&mut self) -> Result<usize, BenchError> {
        let r = match &self.mailbox {
            Mailbox::Mbox(p) => self.mbox.update(p),
            Mailbox::Maildir(p) => count_maildir(p),
            Mailbox::Queue(p) => count_queued(p),
        };
        r.map_err(|e| BenchError::Io(format!("read {}", self.mailbox.path().display()), e))
    }
}

/// What one session did.
#[derive(Debug, Default)]
struct SessionResult {
    accepted: usize,
    errors: usize,
    latencies: Vec<Duration>,
    first_error: Option<String>,
    /// Sessions that ended with QUIT.
    sessions: usize,
}

/// The connection, plain or after STARTTLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

struct Conn {
    reader: BufReader<Stream>,
}

impl Conn {
    fn send(&mut self, data: &[u8]) -> Result<(), BenchError> {
        self.reader
            .get_mut()
            .write_all(data)
            .map_err(|e| BenchError::Io("write".into(), e))
    }

    /// Replace the plain connection by a TLS one (after "220" to STARTTLS).
    fn start_tls(self, tls: &TlsConnector, host: &str) -> Result<Conn, BenchError> {
        if !self.reader.buffer().is_empty() {
            return Err(BenchError::Protocol(
                "data after the STARTTLS reply (RFC 3207 5)".into(),
            ));
        }
        let Stream::Plain(s) = self.reader.into_inner() else {
            return Err(BenchError::Protocol("STARTTLS twice".into()));
        };
        let t = tls
            .connect(host, s)
            .map_err(|e| BenchError::Protocol(format!("TLS handshake: {}", e)))?;
        Ok(Conn {
            reader: BufReader::new(Stream::Tls(Box::new(t))),
        })
    }

    fn command(&mut self, line: &str) -> Result<Reply, BenchError> {
        self.send(format!("{}\r\n", line).as_bytes())?;
        read_reply(&mut self.reader)
    }
}

fn expect(reply: &Reply, class: u16, after: &str) -> Result<(), BenchError> {
    if reply.code / 100 == class {
        Ok(())
    } else {
        Err(BenchError::Protocol(format!(
            "{}: {} {}",
            after,
            reply.code,
            reply.lines.join(" / ")
        )))
    }
}

fn connect(addr: SocketAddr, timeout: Duration) -> Result<Conn, BenchError> {
    let s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| BenchError::Io(format!("connect {}", addr), e))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| BenchError::Io("socket".into(), e))?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| BenchError::Io("socket".into(), e))?;
    s.set_nodelay(true)
        .map_err(|e| BenchError::Io("socket".into(), e))?;
    Ok(Conn {
        reader: BufReader::new(Stream::Plain(s)),
    })
}

/// The TLS client for `--starttls`: any certificate and host name is accepted.
fn tls_connector() -> Result<TlsConnector, BenchError> {
    TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .danger_accept_invalid_hostnames(true)
        .build()
        .map_err(|e| BenchError::Protocol(format!("TLS client: {}", e)))
}

/// Connect and get a session ready for MAIL: greeting, EHLO (HELO as a fallback without
/// STARTTLS and AUTH), STARTTLS and EHLO again, AUTH PLAIN. Returns whether PIPELINING is on.
fn open(
    opts: &Opts,
    addr: SocketAddr,
    tls: Option<&TlsConnector>,
) -> Result<(Conn, bool), BenchError> {
    let mut c = connect(addr, opts.timeout)?;
    expect(&read_reply(&mut c.reader)?, 2, "greeting")?;
    let mut ehlo = c.command("EHLO postern-bench.localhost")?;
    if ehlo.code / 100 != 2 {
        if opts.starttls || opts.auth.is_some() {
            expect(&ehlo, 2, "EHLO")?;
        }
        expect(&c.command("HELO postern-bench.localhost")?, 2, "HELO")?;
        return Ok((c, false));
    }
    if let Some(tls) = tls {
        if !offers(&ehlo, "STARTTLS") {
            return Err(BenchError::Protocol("the server offers no STARTTLS".into()));
        }
        expect(&c.command("STARTTLS")?, 2, "STARTTLS")?;
        c = c.start_tls(tls, &opts.host)?;
        ehlo = c.command("EHLO postern-bench.localhost")?;
        expect(&ehlo, 2, "EHLO after STARTTLS")?;
    }
    if let Some((user, password)) = &opts.auth {
        expect(&c.command(&auth_plain_command(user, password))?, 2, "AUTH")?;
    }
    Ok((c, offers(&ehlo, "PIPELINING")))
}

/// Run one session sending messages `first..first+count`; with `--connect-per-message`
/// one connection per message, a failed connection counting as that message's error.
fn session(
    opts: &Opts,
    addr: SocketAddr,
    tls: Option<&TlsConnector>,
    first: usize,
    count: usize,
    pace: Option<Pace>,
    res: &mut SessionResult,
) -> Result<(), BenchError> {
    let date = postern::log::timefmt::rfc2822(postern::log::timefmt::now_secs());
    let wait = |k: usize| {
        if let Some(p) = pace {
            p.wait(k)
        }
    };
    if !opts.connect_per_message {
        let (mut c, pipelining) = open(opts, addr, tls)?;
        for (k, n) in (first..first + count).enumerate() {
            wait(k);
            one_message(opts, &mut c, pipelining, n, &date, res)?;
        }
        quit(&mut c, res);
        return Ok(());
    }
    for (k, n) in (first..first + count).enumerate() {
        wait(k);
        let r = open(opts, addr, tls).and_then(|(mut c, pipelining)| {
            one_message(opts, &mut c, pipelining, n, &date, res)?;
            quit(&mut c, res);
            Ok(())
        });
        if let Err(e) = r {
            res.errors += 1;
            res.first_error.get_or_insert_with(|| e.to_string());
        }
    }
    Ok(())
}

/// QUIT; a session counts as completed when the server answers it.
fn quit(c: &mut Conn, res: &mut SessionResult) {
    // A failing QUIT does not change what was measured, only the session count.
    if c.command("QUIT").is_ok_and(|r| r.code / 100 == 2) {
        res.sessions += 1;
    }
}

/// Send message `n` on an open session (RSET after a refused envelope).
fn one_message(
    opts: &Opts,
    c: &mut Conn,
    pipelining: bool,
    n: usize,
    date: &str,
    res: &mut SessionResult,
) -> Result<(), BenchError> {
    let rcpts: Vec<&str> = (0..opts.recipients)
        .map(|j| opts.to[(n * opts.recipients + j) % opts.to.len()].as_str())
        .collect();
    let mail = format!("MAIL FROM:<{}>\r\n", opts.from);
    let rcpt_lines: Vec<String> = rcpts
        .iter()
        .map(|r| format!("RCPT TO:<{}>\r\n", r))
        .collect();
    let mut ok_rcpts = 0;
    let mail_reply;
    if pipelining {
        c.send(format!("{}{}", mail, rcpt_lines.concat()).as_bytes())?;
        mail_reply = read_reply(&mut c.reader)?;
        for _ in &rcpt_lines {
            if read_reply(&mut c.reader)?.code / 100 == 2 {
                ok_rcpts += 1;
            }
        }
    } else {
        c.send(mail.as_bytes())?;
        mail_reply = read_reply(&mut c.reader)?;
        if mail_reply.code / 100 == 2 {
            for l in &rcpt_lines {
                c.send(l.as_bytes())?;
                if read_reply(&mut c.reader)?.code / 100 == 2 {
                    ok_rcpts += 1;
                }
            }
        }
    }
    let step = expect(&mail_reply, 2, "MAIL").and_then(|_| {
        if ok_rcpts > 0 {
            Ok(())
        } else {
            Err(BenchError::Protocol("no recipient accepted".into()))
        }
    });
    let step = step.and_then(|_| expect(&c.command("DATA")?, 3, "DATA"));
    if let Err(e) = step {
        res.errors += 1;
        res.first_error.get_or_insert_with(|| e.to_string());
        expect(&c.command("RSET")?, 2, "RSET")?;
        return Ok(());
    }
    c.send(&make_message(n, opts.size, &opts.from, rcpts[0], date))?;
    let t0 = Instant::now();
    c.send(b".\r\n")?;
    let r = read_reply(&mut c.reader)?;
    if r.code / 100 == 2 {
        res.latencies.push(t0.elapsed());
        res.accepted += 1;
    } else {
        res.errors += 1;
        res.first_error
            .get_or_insert_with(|| format!("end of DATA: {} {}", r.code, r.lines.join(" / ")));
    }
    Ok(())
}

/// Wait (bounded by `timeout`) until the mailbox holds `want` more messages than the `before`
/// it held when the run started (for a spool: until nothing is queued); return the instant
/// the last one arrived.
fn wait_delivered(
    counter: &mut Delivered,
    before: usize,
    want: usize,
    timeout: Duration,
) -> Result<Instant, BenchError> {
    let deadline = Instant::now() + timeout;
    let target = before + want;
    loop {
        let n = counter.count()?;
        if let Mailbox::Queue(p) = &counter.mailbox {
            if n == 0 {
                return Ok(Instant::now());
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Protocol(format!(
                    "{}: {} messages still queued after {:?}",
                    p.display(),
                    n,
                    timeout
                )));
            }
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        if n >= target {
            return Ok(Instant::now());
        }
        if Instant::now() >= deadline {
            return Err(BenchError::Protocol(format!(
                "{}: {} of {} messages delivered after {:?}",
                counter.mailbox.path().display(),
                n.saturating_sub(before),
                want,
                timeout
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn fmt_ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "-".into())
}

fn run(opts: &Opts) -> Result<bool, BenchError> {
    let addr = resolve(&opts.host, opts.port, opts.allow_remote)?;
    let mut counter = opts.mailbox.clone().map(Delivered::new);
    let before = match &mut counter {
        Some(c) => c.count()?,
        None => 0,
    };
    let tls = if opts.starttls {
        Some(Arc::new(tls_connector()?))
    } else {
        None
    };
    let opts = Arc::new(opts.clone());
    let started = Instant::now();
    let aborted = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    let (base, extra) = (opts.messages / opts.sessions, opts.messages % opts.sessions);
    let mut first = 0;
    for i in 0..opts.sessions {
        let count = base + usize::from(i < extra);
        if count == 0 {
            continue;
        }
        let (o, ab, t) = (Arc::clone(&opts), Arc::clone(&aborted), tls.clone());
        let pace = opts
            .rate
            .and_then(|r| Pace::new(started, r, i, opts.sessions));
        handles.push(thread::spawn(move || {
            let mut res = SessionResult::default();
            if let Err(e) = session(&o, addr, t.as_deref(), first, count, pace, &mut res) {
                ab.fetch_add(1, Ordering::Relaxed);
                res.errors += count.saturating_sub(res.accepted + res.errors);
                res.first_error.get_or_insert_with(|| e.to_string());
            }
            res
        }));
        first += count;
    }
    let mut all = SessionResult::default();
    for h in handles {
        let r = h.join().unwrap_or_else(|_| SessionResult {
            errors: 1,
            first_error: Some("session thread panicked".into()),
            ..Default::default()
        });
        all.accepted += r.accepted;
        all.errors += r.errors;
        all.sessions += r.sessions;
        all.latencies.extend(r.latencies);
        if all.first_error.is_none() {
            all.first_error = r.first_error;
        }
    }
    let sent_secs = started.elapsed().as_secs_f64().max(1e-9);
    all.latencies.sort();
    let delivered = match &mut counter {
        Some(c) if all.accepted > 0 => {
            match wait_delivered(c, before, all.accepted, opts.timeout) {
                Ok(done) => format!(
                    "{:.1}",
                    all.accepted as f64 / done.duration_since(started).as_secs_f64().max(1e-9)
                ),
                Err(e) => {
                    eprintln!("postern-bench: {}", e);
                    all.errors += 1;
                    "timeout".into()
                }
            }
        }
        Some(_) => "0".into(),
        None => "-".into(),
    };
    let rss = match opts.pid {
        Some(pid) => std::fs::read_to_string(format!("/proc/{}/status", pid))
            .ok()
            .as_deref()
            .and_then(parse_vmhwm)
            .map(|kib| format!("{:.1}", kib as f64 / 1024.0))
            .unwrap_or_else(|| "?".into()),
        None => "-".into(),
    };
    if opts.header {
        println!(
            "{:>8} {:>8} {:>8} {:>11} {:>8} {:>8} {:>12} {:>9} {:>6} {:>10}",
            "sessions",
            "messages",
            "size",
            "accepted/s",
            "p50 ms",
            "p99 ms",
            "delivered/s",
            "RSS MiB",
            "errors",
            "sessions/s"
        );
    }
    println!(
        "{:>8} {:>8} {:>8} {:>11.1} {:>8} {:>8} {:>12} {:>9} {:>6} {:>10.1}",
        opts.sessions,
        opts.messages,
        opts.size,
        all.accepted as f64 / sent_secs,
        fmt_ms(percentile(&all.latencies, 50.0)),
        fmt_ms(percentile(&all.latencies, 99.0)),
        delivered,
        rss,
        all.errors,
        all.sessions as f64 / sent_secs
    );
    if let Some(e) = &all.first_error {
        eprintln!("postern-bench: first error: {}", e);
    }
    Ok(all.errors == 0)
}

/// `--idle N`: the server's total RSS (its process tree) before and with N silent sessions,
/// and the median and worst of 10 new clients' greeting times meanwhile.
fn run_idle(opts: &Opts) -> Result<bool, BenchError> {
    let addr = resolve(&opts.host, opts.port, opts.allow_remote)?;
    let proc_root = Path::new("/proc");
    let rss = |when: &str| -> String {
        match opts.pid {
            None => "-".into(),
            Some(pid) => match postern::bench::idle::tree_rss_kib(proc_root, pid) {
                Ok((kib, procs)) => format!("{:.1} ({} procs)", kib as f64 / 1024.0, procs),
                Err(e) => {
                    eprintln!("postern-bench: RSS {}: {}", when, e);
                    "?".into()
                }
            },
        }
    };
    let before = rss("before");
    let mut held = Vec::with_capacity(opts.idle);
    let mut error = None;
    for _ in 0..opts.idle {
        match postern::bench::idle::greeted(addr, opts.timeout) {
            Ok(s) => held.push(s),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let with = rss("with the idle sessions");
    let mut greet = Vec::new();
    for _ in 0..10 {
        match postern::bench::idle::time_greeting(addr, opts.timeout) {
            Ok(d) => greet.push(d),
            Err(e) => {
                error.get_or_insert(e);
                break;
            }
        }
    }
    greet.sort();
    if opts.header {
        println!(
            "{:>6} {:>22} {:>22} {:>11} {:>11}",
            "idle", "RSS MiB before", "RSS MiB with idle", "greet p50", "greet max"
        );
    }
    println!(
        "{:>6} {:>22} {:>22} {:>11} {:>11}",
        held.len(),
        before,
        with,
        fmt_ms(percentile(&greet, 50.0)),
        fmt_ms(greet.last().copied())
    );
    drop(held);
    if let Some(e) = &error {
        eprintln!("postern-bench: {}", e);
    }
    Ok(error.is_none())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = parse_args(&args).and_then(|o| if o.idle > 0 { run_idle(&o) } else { run(&o) });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(BenchError::Usage(m)) => {
            eprintln!("postern-bench: {}", m);
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("postern-bench: {}", e);
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod per_message_tests;
