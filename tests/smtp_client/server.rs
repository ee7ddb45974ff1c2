//! A scripted SMTP server for the client tests: replies per command are configurable,
//! everything received is recorded.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub enum SIo {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Read for SIo {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            SIo::Plain(s) => s.read(b),
            SIo::Tls(s) => s.read(b),
        }
    }
}

impl Write for SIo {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            SIo::Plain(s) => s.write(b),
            SIo::Tls(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            SIo::Plain(s) => s.flush(),
            SIo::Tls(s) => s.flush(),
        }
    }
}

#[derive(Clone)]
pub struct Script {
    pub greeting: Option<String>,
    /// EHLO lines after the first (keywords); `None` refuses EHLO with 502.
    pub ehlo: Option<Vec<String>>,
    pub mail: String,
    /// Replies by recipient address; others get 250.
    pub rcpt: HashMap<String, String>,
    pub data: String,
    pub final_reply: String,
    /// Offer STARTTLS with this identity.
    pub tls: Option<native_tls::Identity>,
    /// Answer STARTTLS with 220, then drop the connection (a failed handshake).
    pub break_tls: bool,
    /// Hold replies to MAIL/RCPT until DATA arrives (only a pipelining client gets any).
    pub hold_until_data: bool,
    /// Close the connection right after replying to MAIL.
    pub drop_after_mail: bool,
    /// Offer `AUTH <mechanisms>` (after STARTTLS when TLS is offered too) and answer the
    /// AUTH command and each client response with these replies in turn.
    pub auth: Option<(String, Vec<String>)>,
    /// Send this line in the same write as the 220 reply to STARTTLS, ahead of the
    /// handshake (a plaintext injection attempt).
    pub inject_after_starttls: Option<String>,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            greeting: Some("220 mx.remote.test ESMTP Postfix".into()),
            ehlo: Some(vec![
                "PIPELINING".into(),
                "SIZE 10240000".into(),
                "8BITMIME".into(),
                "DSN".into(),
            ]),
            mail: "250 2.1.0 Ok".into(),
            rcpt: HashMap::new(),
            data: "354 End data with <CR><LF>.<CR><LF>".into(),
            final_reply: "250 2.0.0 Ok: queued as 4ABC123".into(),
            tls: None,
            break_tls: false,
            hold_until_data: false,
            drop_after_mail: false,
            auth: None,
            inject_after_starttls: None,
        }
    }
}

/// What a server saw.
#[derive(Default, Debug, Clone)]
pub struct Seen {
    /// Command lines, each prefixed by the connection number (`0:EHLO x`).
    pub commands: Vec<String>,
    /// Message data as received (dot-stuffed, CR LF), without the final dot line.
    pub data: Vec<Vec<u8>>,
    /// Whether each message arrived over TLS.
    pub data_tls: Vec<bool>,
    pub connections: usize,
}

impl Seen {
    pub fn cmds(&self) -> Vec<String> {
        self.commands.clone()
    }
}

pub struct Server {
    pub port: u16,
    pub seen: Arc<Mutex<Seen>>,
}

impl Server {
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

pub fn start(script: Script) -> Server {
    start_on("127.0.0.1:0", script)
}

/// A server on a given address (another loopback address with the same port as a first
/// server stands for a second MX host).
pub fn start_on(addr: &str, script: Script) -> Server {
    let l = TcpListener::bind(addr).unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for (n, conn) in l.incoming().enumerate() {
            let Ok(conn) = conn else { break };
            s2.lock().unwrap().connections += 1;
            let script = script.clone();
            let seen = s2.clone();
            std::thread::spawn(move || serve(n, conn, &script, &seen));
        }
    });
    Server { port, seen }
}

struct Conn {
    io: SIo,
    buf: Vec<u8>,
}

impl Conn {
    fn line(&mut self) -> Option<String> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l: Vec<u8> = self.buf.drain(..p + 2).collect();
                return Some(String::from_utf8_lossy(&l[..p]).into_owned());
            }
            let mut b = [0u8; 4096];
            match self.io.read(&mut b) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
            }
        }
    }
    fn say(&mut self, s: &str) -> bool {
        self.io.write_all(format!("{}\r\n", s).as_bytes()).is_ok()
    }
}

fn serve(n: usize, tcp: TcpStream, script: &Script, seen: &Mutex<Seen>) {
    let mut c = Conn {
        io: SIo::Plain(tcp),
        buf: Vec::new(),
    };
    let Some(g) = &script.greeting else {
        // Never greet; wait for the client to give up.
        while c.line().is_some() {}
        return;
    };
    c.say(g);
    let mut held: Vec<String> = Vec::new();
    let mut accepted = 0;
    let mut tls = false;
    while let Some(line) = c.line() {
        seen.lock()
            .unwrap()
            .commands
            .push(format!("{}:{}", n, line));
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => match &script.ehlo {
                None => "502 5.5.2 Error: command not recognized".to_string(),
                Some(ext) => {
                    let mut ext = ext.clone();
                    if script.tls.is_some() && !tls {
                        ext.push("STARTTLS".into());
                    }
                    if let Some((mechs, _)) = &script.auth {
                        ext.push(format!("AUTH {}", mechs));
                    }
                    let mut lines = vec!["mx.remote.test".to_string()];
                    lines.extend(ext);
                    let last = lines.len() - 1;
                    lines
                        .iter()
                        .enumerate()
                        .map(|(i, l)| format!("250{}{}", if i == last { ' ' } else { '-' }, l))
                        .collect::<Vec<_>>()
                        .join("\r\n")
                }
            },
            "HELO" => "250 mx.remote.test".into(),
            "STARTTLS" => {
                match &script.inject_after_starttls {
                    Some(extra) => c.say(&format!("220 2.0.0 Ready to start TLS\r\n{}", extra)),
                    None => c.say("220 2.0.0 Ready to start TLS"),
                };
                if script.break_tls {
                    return;
                }
                let Some(id) = script.tls.clone() else { return };
                let SIo::Plain(tcp) = c.io else { return };
                let acc = native_tls::TlsAcceptor::new(id).unwrap();
                match acc.accept(tcp) {
                    Ok(t) => {
                        c = Conn {
                            io: SIo::Tls(Box::new(t)),
                            buf: Vec::new(),
                        };
                        tls = true;
                        continue;
                    }
                    Err(_) => return,
                }
            }
            "AUTH" => {
                let replies = script
                    .auth
                    .as_ref()
                    .map(|a| a.1.clone())
                    .unwrap_or_default();
                let mut it = replies.into_iter();
                let mut r = it.next().unwrap_or_else(|| "502 5.5.1 no".into());
                while r.starts_with("334") {
                    c.say(&r);
                    let Some(l) = c.line() else { return };
                    seen.lock().unwrap().commands.push(format!("{}:{}", n, l));
                    r = it
                        .next()
                        .unwrap_or_else(|| "535 5.7.8 out of replies".into());
                }
                r
            }
            "MAIL" => script.mail.clone(),
            "RCPT" => {
                let addr = line
                    .split_once('<')
                    .and_then(|(_, r)| r.split_once('>'))
                    .map(|(a, _)| a.to_string())
                    .unwrap_or_default();
                let r = script
                    .rcpt
                    .get(&addr)
                    .cloned()
                    .unwrap_or_else(|| "250 2.1.5 Ok".into());
                if r.starts_with('2') {
                    accepted += 1;
                }
                r
            }
            "DATA" => {
                if accepted == 0 {
                    "554 5.5.1 Error: no valid recipients".into()
                } else {
                    for h in held.drain(..) {
                        c.say(&h);
                    }
                    c.say(&script.data);
                    if !script.data.starts_with('3') {
                        continue;
                    }
                    let mut data = Vec::new();
                    loop {
                        let Some(l) = c.line() else { return };
                        if l == "." {
                            break;
                        }
                        data.extend_from_slice(l.as_bytes());
                        data.extend_from_slice(b"\r\n");
                    }
                    let mut s = seen.lock().unwrap();
                    s.data.push(data);
                    s.data_tls.push(tls);
                    drop(s);
                    script.final_reply.clone()
                }
            }
            "RSET" => "250 2.0.0 Ok".into(),
            "QUIT" => {
                for h in held.drain(..) {
                    c.say(&h);
                }
                c.say("221 2.0.0 Bye");
                return;
            }
            _ => "502 5.5.2 Error: command not recognized".into(),
        };
        if script.hold_until_data && matches!(verb.as_str(), "MAIL" | "RCPT") {
            held.push(reply);
        } else {
            for h in held.drain(..) {
                c.say(&h);
            }
            c.say(&reply);
        }
        if verb == "MAIL" && script.drop_after_mail {
            return;
        }
    }
}
