//! `FakeDns`: a tiny authoritative DNS server on loopback for tests (the sandbox's resolver
//! answers NXDOMAIN for every real domain). It serves a zone given as a list of MX, A, AAAA
//! and CNAME records over UDP and TCP on the same 127.0.0.1 port, answers NXDOMAIN for
//! names it does not know, SERVFAIL for names listed as failing, and can set the TC bit for
//! chosen names (to force the client onto TCP), stay silent (to test timeouts) or send a
//! forged reply with a wrong ID before the real one. It records every question it gets.
//! Runs in two threads; dropping it stops them.
//!
//! Security role: none in production (only tests start it); it binds to loopback only.
//! Follows RFC 1035 message and TCP framing. Logs nothing.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// One record of the fake zone.
#[derive(Debug, Clone)]
enum Entry {
    Mx(u16, String),
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Txt(String),
    Ns(String),
}

/// What the fake server knows and how it misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    records: Vec<(String, Entry)>,
    servfail: HashSet<String>,
    truncate: HashSet<String>,
    silent: bool,
    forge_first: bool,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    pub fn new() -> Zone {
        Zone::default()
    }
    /// `domain MX preference host`
    pub fn mx(mut self, domain: &str, preference: u16, host: &str) -> Zone {
        self.records
            .push((key(domain), Entry::Mx(preference, host.to_string())));
        self
    }
    /// `name A addr`
    pub fn a(mut self, name: &str, addr: Ipv4Addr) -> Zone {
        self.records.push((key(name), Entry::A(addr)));
        self
    }
    /// `name AAAA addr`
    pub fn aaaa(mut self, name: &str, addr: Ipv6Addr) -> Zone {
        self.records.push((key(name), Entry::Aaaa(addr)));
        self
    }
    /// `name TXT "text"`
    pub fn txt(mut self, name: &str, text: &str) -> Zone {
        self.records.push((key(name), Entry::Txt(text.to_string())));
        self
    }
    /// `name NS host`
    pub fn ns(mut self, name: &str, host: &str) -> Zone {
        self.records.push((key(name), Entry::Ns(host.to_string())));
        self
    }
    /// `name CNAME target`
    pub fn cname(mut self, name: &str, target: &str) -> Zone {
        self.records
            .push((key(name), Entry::Cname(target.to_string())));
        self
    }
    /// Questions about `name` get SERVFAIL.
    pub fn servfail(mut self, name: &str) -> Zone {
        self.servfail.insert(key(name));
        self
    }
    /// UDP answers about `name` are empty with the TC bit set; TCP gets the full answer.
    pub fn truncate(mut self, name: &str) -> Zone {
        self.truncate.insert(key(name));
        self
    }
    /// Never answer anything (questions are still recorded).
    pub fn silent(mut self) -> Zone {
        self.silent = true;
        self
    }
    /// Over UDP, send a reply with the wrong ID (saying NXDOMAIN) before the real one.
    pub fn forge_first(mut self) -> Zone {
        self.forge_first = true;
        self
    }
}

/// One question the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// Lower case, without the trailing dot.
    pub name: String,
    /// "MX", "A", "AAAA"...
    pub rtype: String,
    pub tcp: bool,
}

/// A running fake DNS server; stops when dropped.
pub struct FakeDns {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    asked: Arc<Mutex<Vec<Asked>>>,
    threads: Vec<JoinHandle<()>>,
}

impl FakeDns {
    /// Binds UDP and TCP on one free 127.0.0.1 port and starts serving `zone`.
    pub fn start(zone: Zone) -> io::Result<FakeDns> {
        let (udp, tcp) = bind_pair()?;
        let addr = udp.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let zone = Arc::new(zone);
        let mut threads = Vec::new();
        {
            let (zone, stop, asked) = (zone.clone(), stop.clone(), asked.clone());
            threads.push(std::thread::spawn(move || {
                serve_udp(udp, &zone, &stop, &asked)
            }));
        }
        {
            let (stop, asked) = (stop.clone(), asked.clone());
            threads.push(std::thread::spawn(move || {
                serve_tcp(tcp, &zone, &stop, &asked)
            }));
        }
        Ok(FakeDns {
            addr,
            stop,
            asked,
            threads,
        })
    }

    /// Where to send queries (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The questions received so far, in order.
    pub fn asked(&self) -> Vec<Asked> {
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake both threads from their blocking calls.
        if let Ok(sock) = UdpSocket::bind("127.0.0.1:0") {
            let _ = sock.send_to(&[0], self.addr);
        }
        let _ = TcpStream::connect(self.addr);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn bind_pair() -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

fn record(asked: &Mutex<Vec<Asked>>, query: &Message, tcp: bool) {
    if let Some(q) = query.queries.first() {
        asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Asked {
                name: key(&q.name().to_ascii()),
                rtype: q.query_type().to_string(),
                tcp,
            });
    }
}

fn serve_udp(sock: UdpSocket, zone: &Zone, stop: &AtomicBool, asked: &Mutex<Vec<Asked>>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((len, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(query) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        record(asked, &query, false);
        if zone.silent {
            continue;
        }
        if zone.forge_first {
            let mut forged = Message::error_msg(
                query.metadata.id.wrapping_add(1),
                query.metadata.op_code,
                ResponseCode::NXDomain,
            );
            forged.add_queries(query.queries.iter().cloned());
            if let Ok(wire) = forged.to_vec() {
                let _ = sock.send_to(&wire, peer);
            }
        }
        if let Ok(wire) = answer(zone, &query, false).to_vec() {
            let _ = sock.send_to(&wire, peer);
        }
    }
}

fn serve_tcp(listener: TcpListener, zone: &Zone, stop: &AtomicBool, asked: &Mutex<Vec<Asked>>) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut conn) = conn {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = serve_tcp_conn(&mut conn, zone, asked);
        }
    }
}

fn serve_tcp_conn(conn: &mut TcpStream, zone: &Zone, asked: &Mutex<Vec<Asked>>) -> io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        conn.read_exact(&mut len)?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut buf)?;
        let query = Message::from_vec(&buf).map_err(io::Error::other)?;
        record(asked, &query, true);
        if zone.silent {
            continue;
        }
        let wire = answer(zone, &query, true)
            .to_vec()
            .map_err(io::Error::other)?;
        let len = u16::try_from(wire.len()).map_err(io::Error::other)?;
        conn.write_all(&len.to_be_bytes())?;
        conn.write_all(&wire)?;
    }
}

fn to_name(text: &str) -> Option<Name> {
    let mut name = Name::from_ascii(text).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// The reply to one query.
fn answer(zone: &Zone, query: &Message, tcp: bool) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.message_type = MessageType::Response;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    reply.add_queries(query.queries.iter().cloned());
    let Some(q) = query.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply;
    };
    let qname = key(&q.name().to_ascii());
    if zone.servfail.contains(&qname) {
        reply.metadata.response_code = ResponseCode::ServFail;
        return reply;
    }
    if !tcp && zone.truncate.contains(&qname) {
        reply.metadata.truncation = true;
        return reply;
    }
    if !zone.records.iter().any(|(owner, _)| *owner == qname) {
        reply.metadata.response_code = ResponseCode::NXDomain;
        return reply;
    }
    let mut owner = qname;
    for _ in 0..16 {
        let mut found = false;
        let mut next = None;
        for (name, entry) in zone.records.iter().filter(|(n, _)| *n == owner) {
            let Some(rname) = to_name(name) else { continue };
            let data = match (entry, q.query_type()) {
                (Entry::Mx(pref, host), RecordType::MX) => {
                    to_name(host).map(|h| RData::MX(MX::new(*pref, h)))
                }
                (Entry::A(ip), RecordType::A) => Some(RData::A(A(*ip))),
                (Entry::Aaaa(ip), RecordType::AAAA) => Some(RData::AAAA(AAAA(*ip))),
                (Entry::Txt(text), RecordType::TXT) => {
                    Some(RData::TXT(TXT::new(vec![text.clone()])))
                }
                (Entry::Ns(host), RecordType::NS) => to_name(host).map(|h| RData::NS(NS(h))),
                (Entry::Cname(target), _) => {
                    next = Some(key(target));
                    to_name(target).map(|t| RData::CNAME(CNAME(t)))
                }
                _ => None,
            };
            if let Some(data) = data {
                found |= !matches!(data, RData::CNAME(_));
                reply.add_answer(Record::from_rdata(rname, 300, data));
            }
        }
        match next {
            Some(target) if !found => owner = target,
            _ => break,
        }
    }
    reply
}
