//! The saslauthd of a test binary: started once (`saslauthd -a shadow -m DIR`, a private
//! socket directory under the temporary directory), checking the test account
//! `postern-sasl` whose password is set with chpasswd; stopped at exit. Root only (it
//! reads /etc/shadow and creates the account). Include it with
//! `#[path = "common/saslauthd.rs"] mod saslauthd;` next to `mod common;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::{require, require_root, wait_for};

pub const USER: &str = "postern-sasl";
pub const PASSWORD: &str = "Sesame-0pen";

/// The running saslauthd (its socket directory), one per test binary.
pub struct Saslauthd {
    pub dir: PathBuf,
}

extern "C" fn stop_saslauthd() {
    if let Some(s) = SASLAUTHD.get() {
        s.stop();
    }
}

impl Saslauthd {
    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("saslauthd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn stop(&self) {
        if let Some(pid) = self.pid() {
            // SAFETY: signalling the saslauthd this test binary started, by its own pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static SASLAUTHD: OnceLock<Saslauthd> = OnceLock::new();

/// The test account with its password, and saslauthd running on a private socket.
pub fn saslauthd() -> &'static Saslauthd {
    SASLAUTHD.get_or_init(|| {
        if postern::sys::user_by_name(USER).unwrap().is_none() {
            let st = Command::new("useradd")
                .args(["-M", "-s", "/usr/sbin/nologin", USER])
                .status()
                .unwrap();
            assert!(st.success(), "useradd {}", USER);
        }
        let mut p = Command::new("chpasswd")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        p.stdin
            .take()
            .unwrap()
            .write_all(format!("{}:{}\n", USER, PASSWORD).as_bytes())
            .unwrap();
        assert!(p.wait().unwrap().success(), "chpasswd");
        let dir = std::env::temp_dir().join(format!(
            "postern-saslauthd-{}-{}",
            postern::sys::uid(),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("/usr/sbin/saslauthd")
            .args(["-a", "shadow", "-n", "2", "-m"])
            .arg(&dir)
            .status()
            .expect("run saslauthd");
        assert!(st.success(), "saslauthd failed to start");
        let s = Saslauthd { dir };
        assert!(
            wait_for(10, || s.dir.join("mux").exists() && s.pid().is_some()),
            "saslauthd socket"
        );
        // SAFETY: a plain extern "C" function that only signals a pid and removes a directory.
        unsafe { libc::atexit(stop_saslauthd) };
        s
    })
}

pub fn prerequisites() -> bool {
    require_root()
        && require(
            Path::new("/usr/sbin/saslauthd").exists() && Path::new("/usr/bin/swaks").exists(),
            "needs saslauthd (sasl2-bin) and swaks",
        )
}
