//! Passing an open file between processes over a Unix socket (SCM_RIGHTS): the root
//! postlogd opens $maillog_file and hands it to the unprivileged master.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// Standard input as a Unix socket (postlogd: the master passes its end of a socket pair
/// as the child's standard input). Takes ownership of descriptor 0.
pub fn stdin_socket() -> UnixStream {
    // SAFETY: descriptor 0 is open (the master gave the child a socket as standard input)
    // and nothing else in this process uses it: the stream owns it from here on.
    unsafe { UnixStream::from_raw_fd(0) }
}

/// Send `fd` with the one byte `tag` over `sock`.
pub fn send_fd(sock: &UnixStream, tag: u8, fd: RawFd) -> io::Result<()> {
    let mut byte = [tag];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msg points at iov, byte and control, all alive for the sendmsg call; the
    // control buffer is CMSG_SPACE(sizeof fd) bytes, so CMSG_FIRSTHDR is non-null and
    // CMSG_DATA has room for one descriptor.
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    if n != 1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receive one byte over `sock`, and the descriptor sent with it if any (`None` for a
/// plain byte). End of file is an error.
pub fn recv_fd(sock: &UnixStream) -> io::Result<(u8, Option<OwnedFd>)> {
    let mut byte = [0u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msg points at iov, byte and control, alive for the call; recvmsg writes at
    // most msg_controllen bytes of control data (MSG_CMSG_CLOEXEC marks a received
    // descriptor close-on-exec).
    let (n, msg) = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        (n, msg)
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    let mut fd = None;
    // SAFETY: msg was filled by recvmsg; CMSG_FIRSTHDR/CMSG_NXTHDR walk only the control
    // bytes it reported, and an SCM_RIGHTS header of CMSG_LEN(sizeof fd) carries one
    // descriptor, now owned by this process.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET
                && (*cmsg).cmsg_type == libc::SCM_RIGHTS
                && (*cmsg).cmsg_len as usize
                    >= libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize
            {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((byte[0], fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn a_file_crosses_a_socket_pair() {
        let (a, b) = UnixStream::pair().unwrap();
        let path = std::env::temp_dir().join(format!("postern-fdpass-{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.write_all(b"hello").unwrap();
        send_fd(&a, b'F', f.as_raw_fd()).unwrap();
        let (tag, fd) = recv_fd(&b).unwrap();
        assert_eq!(tag, b'F');
        let mut g = std::fs::File::from(fd.unwrap());
        g.rewind().unwrap();
        let mut s = String::new();
        g.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        (&a).write_all(b"E").unwrap();
        let (tag, fd) = recv_fd(&b).unwrap();
        assert_eq!((tag, fd.is_none()), (b'E', true));
        drop(a);
        assert!(recv_fd(&b).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
