//! Carries one DNS query to the configured name servers and brings back the reply: UDP
//! first, TCP (two-byte length prefix) when the reply has the TC bit set (RFC 1035 4.2,
//! RFC 7766). Each attempt waits at most the configured timeout; the servers are tried in
//! turn, `attempts` rounds over the whole list, as the libc stub resolver does with the
//! `timeout:` and `attempts:` options of resolv.conf(5).
//!
//! Security role: a UDP reply is taken only from the server the query went to (connected
//! socket), only with the query's ID, the response flag and the same question; anything else
//! is dropped and the wait goes on. Replies are decoded by hickory-proto; a reply that does
//! not decode counts as a failure of that server. Logs nothing (the caller reports).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};

/// Largest DNS message over TCP; UDP replies are read into a buffer of this size too.
const MAX_MESSAGE: usize = 65535;

/// Where to send queries and how patiently.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub servers: Vec<SocketAddr>,
    pub timeout: Duration,
    pub attempts: u32,
}

impl Transport {
    /// Sends `query` (already carrying its ID and one question) and returns the first final
    /// reply, starting with server number `start` (for `options rotate`). A final reply has
    /// rcode NOERROR or NXDOMAIN; any other rcode, a timeout or a bad reply is a failure of
    /// that server and the next one is asked. When all fail, the last reason comes back.
    pub(crate) fn exchange(&self, query: &Message, start: usize) -> Result<Message, String> {
        let wire = query
            .to_vec()
            .map_err(|e| format!("cannot encode query: {e}"))?;
        let mut last = String::from("no name servers configured");
        let n = self.servers.len();
        for _ in 0..self.attempts.max(1) {
            for i in 0..n {
                let server = self.servers[(start + i) % n];
                match self.ask(server, &wire, query) {
                    Ok(reply) => match reply.metadata.response_code {
                        ResponseCode::NoError | ResponseCode::NXDomain => return Ok(reply),
                        code => last = format!("{server}: {code}"),
                    },
                    Err(e) => last = format!("{server}: {e}"),
                }
            }
        }
        Err(last)
    }

    /// One server, one attempt: UDP, then TCP when truncated.
    fn ask(&self, server: SocketAddr, wire: &[u8], query: &Message) -> io::Result<Message> {
        let reply = udp_exchange(server, wire, query, self.timeout)?;
        if reply.metadata.truncation {
            return tcp_exchange(server, wire, query, self.timeout);
        }
        Ok(reply)
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Does `reply` answer `query`: same ID, a response, the same single question?
pub(crate) fn matches(query: &Message, reply: &Message) -> bool {
    reply.metadata.id == query.metadata.id
        && reply.metadata.message_type == MessageType::Response
        && reply.queries.len() == 1
        && query.queries.len() == 1
        && reply.queries[0].name() == query.queries[0].name()
        && reply.queries[0].query_type() == query.queries[0].query_type()
        && reply.queries[0].query_class() == query.queries[0].query_class()
}

fn udp_exchange(
    server: SocketAddr,
    wire: &[u8],
    query: &Message,
    timeout: Duration,
) -> io::Result<Message> {
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = UdpSocket::bind(local)?;
    sock.connect(server)?;
    sock.send(wire)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        sock.set_read_timeout(Some(left))?;
        let len = match sock.recv(&mut buf) {
            Ok(len) => len,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // A datagram that does not decode or does not answer this query may be forged or
        // stale: ignore it and keep waiting for the real reply.
        if let Ok(reply) = Message::from_vec(&buf[..len])
            && matches(query, &reply)
        {
            return Ok(reply);
        }
    }
}

fn tcp_exchange(
    server: SocketAddr,
    wire: &[u8],
    query: &Message,
    timeout: Duration,
) -> io::Result<Message> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&server, timeout)?;
    let len = u16::try_from(wire.len()).map_err(|_| bad("query too long"))?;
    let mut out = Vec::with_capacity(wire.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(wire);
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(&out)?;
    let mut len = [0u8; 2];
    stream.set_read_timeout(Some(remaining(deadline)?))?;
    stream.read_exact(&mut len)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.set_read_timeout(Some(remaining(deadline)?))?;
    stream.read_exact(&mut buf)?;
    let reply = Message::from_vec(&buf).map_err(|e| bad(format!("bad reply over TCP: {e}")))?;
    if !matches(query, &reply) {
        return Err(bad("reply over TCP does not match the query"));
    }
    Ok(reply)
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    } else {
        Ok(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};

    fn query(id: u16, name: &str, rtype: RecordType) -> Message {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        m
    }

    fn reply_to(q: &Message) -> Message {
        let mut r = Message::response(q.metadata.id, OpCode::Query);
        r.add_queries(q.queries.iter().cloned());
        r
    }

    #[test]
    fn reply_must_carry_id_flag_and_question() {
        let q = query(7, "example.test.", RecordType::MX);
        assert!(matches(&q, &reply_to(&q)));
        assert!(matches(
            &q,
            &reply_to(&query(7, "EXAMPLE.test.", RecordType::MX))
        ));
        assert!(!matches(
            &q,
            &reply_to(&query(8, "example.test.", RecordType::MX))
        ));
        assert!(!matches(
            &q,
            &reply_to(&query(7, "other.test.", RecordType::MX))
        ));
        assert!(!matches(
            &q,
            &reply_to(&query(7, "example.test.", RecordType::A))
        ));
        assert!(!matches(&q, &q), "a query is not a reply");
    }

    #[test]
    fn no_servers_is_a_failure() {
        let t = Transport {
            servers: vec![],
            timeout: Duration::from_millis(10),
            attempts: 2,
        };
        let q = query(1, "example.test.", RecordType::MX);
        assert_eq!(t.exchange(&q, 0).unwrap_err(), "no name servers configured");
    }
}
