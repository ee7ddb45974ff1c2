//! Reading one secret file, as root in the master at start and in the privileged helper on
//! reload: regular files only (opened without blocking, so a FIFO cannot hang the reader),
//! at most `MAX_SECRET` bytes, and the last path component is not followed when it is a
//! symbolic link, unless root owns that link (as in /etc/letsencrypt/live/: only root could
//! have placed it) or the running account does (when not root, it gains nothing by it);
//! then the link's target is opened, itself not followed (one hop). Logs nothing.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Largest secret file read (a TLS key with its chain, a .cf file).
pub const MAX_SECRET: u64 = 1 << 20;

/// The contents of the secret file `path` (see the module doc for what is refused).
pub fn read_secret(path: &Path) -> io::Result<Vec<u8>> {
    let file = match open_nofollow(path) {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => follow_root_link(path, e)?,
        other => other?,
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_SECRET {
        return Err(io::Error::other(format!(
            "file is larger than {} bytes",
            MAX_SECRET
        )));
    }
    let mut buf = Vec::new();
    file.take(MAX_SECRET + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_SECRET {
        return Err(io::Error::other(format!(
            "file is larger than {} bytes",
            MAX_SECRET
        )));
    }
    Ok(buf)
}

fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// `path` is a symbolic link: open its target if root (or the running account, which gains
/// nothing by it) owns the link, else fail with `e`.
/// One hop only: a target that is itself a link is not followed.
fn follow_root_link(path: &Path, e: io::Error) -> io::Result<File> {
    let link = std::fs::symlink_metadata(path)?;
    if !link.file_type().is_symlink() || (link.uid() != 0 && link.uid() != crate::sys::euid()) {
        return Err(io::Error::new(
            e.kind(),
            "symbolic link not owned by root; not followed",
        ));
    }
    let target = std::fs::read_link(path)?;
    let target = match path.parent() {
        Some(dir) if target.is_relative() => dir.join(target),
        _ => target,
    };
    open_nofollow(&target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let d = std::env::temp_dir().join(format!("postern-secret-read-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("key");
        std::fs::write(&f, "secret").unwrap();
        assert_eq!(read_secret(&f).unwrap(), b"secret");
        let e = read_secret(&d).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
        let big = d.join("big");
        std::fs::write(&big, vec![b'x'; MAX_SECRET as usize + 1]).unwrap();
        let e = read_secret(&big).unwrap_err();
        assert_eq!(e.to_string(), "file is larger than 1048576 bytes");
        std::fs::write(&big, vec![b'x'; MAX_SECRET as usize]).unwrap();
        assert_eq!(read_secret(&big).unwrap().len(), MAX_SECRET as usize);
        // A symbolic link is followed only when root owns it.
        let link = d.join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        if crate::sys::is_root() {
            assert_eq!(read_secret(&link).unwrap(), b"secret");
            // Relative targets are relative to the link's directory; one hop only.
            let rel = d.join("rel");
            std::os::unix::fs::symlink("key", &rel).unwrap();
            assert_eq!(read_secret(&rel).unwrap(), b"secret");
            let chain = d.join("chain");
            std::os::unix::fs::symlink("rel", &chain).unwrap();
            assert_eq!(
                read_secret(&chain).unwrap_err().raw_os_error(),
                Some(libc::ELOOP)
            );
            std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
            let e = read_secret(&link).unwrap_err();
            assert!(e.to_string().contains("not owned by root"), "{}", e);
        } else {
            assert_eq!(
                read_secret(&link).unwrap(),
                b"secret",
                "the account's own link"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
