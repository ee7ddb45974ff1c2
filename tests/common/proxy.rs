//! A TCP forwarder in front of a real server that a test can take down and bring back, to
//! play "the database server stopped" without stopping the machine's shared server. While
//! down, it cuts every forwarded connection and closes new ones at once (the client sees
//! the server go away); while up, it forwards bytes both ways.

#![allow(dead_code)]

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One forwarder from a loopback port to `target`.
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Listen on a free loopback port and forward to `target` (`host:port`).
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (up2, conns2, target) = (up.clone(), conns.clone(), target.to_string());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                if let Ok(server) = TcpStream::connect(&target) {
                    forward(client, server, &conns2);
                }
            }
        });
        Proxy { port, up, conns }
    }

    /// Cut every connection and refuse new ones until `up`.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Forward again.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn forward(client: TcpStream, server: TcpStream, conns: &Mutex<Vec<TcpStream>>) {
    let pairs = || -> io::Result<_> {
        Ok((
            client.try_clone()?,
            server.try_clone()?,
            client.try_clone()?,
            server.try_clone()?,
        ))
    };
    let Ok((mut c_read, mut s_write, mut c_write, mut s_read)) = pairs() else {
        return;
    };
    {
        let mut list = conns.lock().unwrap();
        list.push(client);
        list.push(server);
    }
    std::thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Both);
    });
    std::thread::spawn(move || {
        let _ = io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(Shutdown::Both);
    });
}
