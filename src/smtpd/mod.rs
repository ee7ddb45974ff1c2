//! smtpd(8): the SMTP server. (Interface placeholder until the session code lands.)

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::Config;
use crate::qmgr::Wake;
use crate::queue::Queue;

pub struct ClientInfo {
    pub name: String,
    pub addr: IpAddr,
    pub port: u16,
}

impl ClientInfo {
    pub fn lookup(peer: SocketAddr) -> ClientInfo {
        ClientInfo {
            name: "unknown".into(),
            addr: peer.ip(),
            port: peer.port(),
        }
    }
}

pub struct SmtpdContext {}

impl SmtpdContext {
    pub fn new(
        cfg: Arc<Config>,
        queue: Queue,
        wake: crossbeam_channel::Sender<Wake>,
    ) -> Result<SmtpdContext, String> {
        let _ = (cfg, queue, wake);
        todo!("smtpd")
    }
}

pub fn serve(
    listener: TcpListener,
    ctx: crate::Shared<SmtpdContext>,
    maxproc: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let _ = (listener, ctx, maxproc, stop);
    todo!("smtpd")
}

pub fn session<S: Read + Write>(stream: S, client: ClientInfo, ctx: &SmtpdContext) {
    let _ = (stream, client, ctx);
    todo!("smtpd")
}
