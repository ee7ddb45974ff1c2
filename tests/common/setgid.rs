//! Set-gid programs in tests (as root): an installed-like set-gid copy of a built program,
//! and the default main.cf such a program reads for `alternate_config_directories`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use postern::sys;

use super::bin;

/// As root: the default main.cf (`DEFAULT_CONFIG_DIR/main.cf`, where a set-gid program
/// looks for `alternate_config_directories`) holds `text` for as long as this guard lives.
/// An exclusive lock in the temporary directory makes the tests that need it, also those
/// of other checkouts on this machine, take turns; a main.cf that was there is put back.
pub struct DefaultMainCf {
    _lock: std::fs::File,
    path: PathBuf,
    saved: Option<Vec<u8>>,
}

impl DefaultMainCf {
    pub fn with(text: &str) -> DefaultMainCf {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join("postern-tests-default-main-cf.lock"))
            .unwrap();
        lock.lock().unwrap();
        let dir = Path::new(postern::config::DEFAULT_CONFIG_DIR);
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("main.cf");
        let saved = std::fs::read(&path).ok();
        std::fs::write(&path, text).unwrap();
        DefaultMainCf {
            _lock: lock,
            path,
            saved,
        }
    }
}

impl Drop for DefaultMainCf {
    fn drop(&mut self) {
        match &self.saved {
            Some(old) => {
                let _ = std::fs::write(&self.path, old);
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
                // Only when empty: a directory that held more was not ours alone.
                let _ = std::fs::remove_dir(self.path.parent().unwrap());
            }
        }
    }
}

/// As root: a copy of the built `program` in `dir`, owned by root and set-gid to `group`
/// (mode 2755), as `make install` installs postdrop and postqueue.
pub fn setgid_copy(program: &str, dir: &Path, group: &str) -> PathBuf {
    let gid = sys::group_by_name(group).unwrap().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let copy = dir.join(program);
    std::fs::copy(bin(program), &copy).unwrap();
    sys::chown(&copy, 0, gid).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o2755)).unwrap();
    copy
}
