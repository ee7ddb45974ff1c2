//! The secrets request: on `postfix reload` the unprivileged master asks a root helper to
//! read the secret files again (`crate::secrets`), and installs what comes back.
//!
//! It is a request kind of its own rather than an `Op`: it runs in the helper itself (as
//! root, no child, no uid switch) and answers with file contents, not delivery replies. The
//! request frame is the single field `secrets`; it carries nothing else, so there is nothing
//! of the caller's to trust: the helper re-reads main.cf and master.cf from its own
//! configuration directory, derives the list with `secrets::load_list` (the master's
//! function), and reads each file with `secrets::read_secret` (regular files, last component
//! not followed unless a root-owned link, at most `MAX_SECRET` bytes), at most `MAX_FILES`
//! files. A helper that is no longer root (restarted after the master dropped privileges)
//! refuses, so the master keeps the store it has.
//!
//! Answer (fields as in `request`): `error`, reason; or `ok`, a count, and per file its
//! path, then `data` and the contents, or `error` and the reason it could not be read.
//!
//! Security role: hands root-only files to $mail_owner, exactly those the root-owned
//! configuration names as secrets, as Postfix's daemons read them before dropping
//! privileges. Logs nothing (the master logs the outcome).

use std::path::{Path, PathBuf};

use super::HelperHandle;
use crate::secrets::{self, Store};

/// The request kind (the only field of a secrets request).
const KIND: &[u8] = b"secrets";

/// Most secret files one answer carries (each at most `secrets::MAX_SECRET` bytes, so an
/// answer stays below `request::MAX_FRAME`).
pub const MAX_FILES: usize = 200;

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// The request frame payload.
pub fn encode_request() -> Vec<u8> {
    let mut out = Vec::new();
    put(&mut out, KIND);
    out
}

/// Whether a request frame payload is a secrets request.
pub fn is_request(buf: &[u8]) -> bool {
    buf == encode_request().as_slice()
}

/// The helper's answer: the secret files of the configuration in `config_dir`, read now.
pub fn answer(config_dir: &Path, root: bool) -> Vec<u8> {
    let store = if root {
        secrets::load_list(config_dir).and_then(|list| {
            if list.len() > MAX_FILES {
                return Err(format!(
                    "too many secret files ({}; at most {})",
                    list.len(),
                    MAX_FILES
                ));
            }
            Ok(Store::read(&list))
        })
    } else {
        Err("the helper does not run as root".to_string())
    };
    encode_answer(&store)
}

/// Encode an answer (the store read, or why none was).
pub fn encode_answer(store: &Result<Store, String>) -> Vec<u8> {
    let mut out = Vec::new();
    let store = match store {
        Ok(s) => s,
        Err(why) => {
            put(&mut out, b"error");
            put(&mut out, why.as_bytes());
            return out;
        }
    };
    put(&mut out, b"ok");
    put(&mut out, store.len().to_string().as_bytes());
    for (path, outcome) in store.iter() {
        put(&mut out, path.as_os_str().as_encoded_bytes());
        match outcome {
            Ok(bytes) => {
                put(&mut out, b"data");
                put(&mut out, bytes);
            }
            Err(why) => {
                put(&mut out, b"error");
                put(&mut out, why.as_bytes());
            }
        }
    }
    out
}

struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self) -> Result<&'a [u8], String> {
        let short = || "protocol error: truncated field".to_string();
        let len = self.0.get(..4).ok_or_else(short)?;
        let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let end = n.checked_add(4).ok_or_else(short)?;
        let b = self.0.get(4..end).ok_or_else(short)?;
        self.0 = &self.0[end..];
        Ok(b)
    }
    fn text(&mut self) -> Result<String, String> {
        String::from_utf8(self.take()?.to_vec()).map_err(|_| "protocol error: bad text".into())
    }
}

/// Decode an answer: the store, or the helper's reason for not reading.
pub fn decode_answer(buf: &[u8]) -> Result<Store, String> {
    let mut f = Fields(buf);
    match f.take()? {
        b"ok" => {}
        b"error" => return Err(f.text()?),
        _ => return Err("protocol error: unknown answer".into()),
    }
    let n: usize = f
        .text()?
        .parse()
        .map_err(|_| "protocol error: bad number".to_string())?;
    if n > MAX_FILES {
        return Err("protocol error: too many files".into());
    }
    let mut store = Store::default();
    for _ in 0..n {
        let path = PathBuf::from(f.text()?);
        let outcome = match f.take()? {
            b"data" => Ok(f.take()?.to_vec()),
            b"error" => Err(f.text()?),
            _ => return Err("protocol error: unknown outcome".into()),
        };
        store.insert(path, outcome);
    }
    if !f.0.is_empty() {
        return Err("protocol error: trailing data".into());
    }
    Ok(store)
}

impl HelperHandle {
    /// Have a root helper read the secret files of its configuration directory.
    pub fn read_secrets(&self) -> Result<Store, String> {
        decode_answer(&self.exchange(&encode_request())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_and_bad_ones_are_errors() {
        let mut store = Store::default();
        store.insert(
            "/etc/postfix/my.cf".into(),
            Ok(b"password = x\n\0".to_vec()),
        );
        store.insert("/etc/ssl/k.pem".into(), Err("Permission denied".into()));
        let enc = encode_answer(&Ok(store.clone()));
        assert_eq!(decode_answer(&enc).unwrap(), store);
        let why = "the helper does not run as root".to_string();
        assert_eq!(decode_answer(&encode_answer(&Err(why.clone()))), Err(why));
        for cut in [0, 3, enc.len() - 1] {
            assert!(decode_answer(&enc[..cut]).is_err(), "cut at {}", cut);
        }
        let mut extra = enc.clone();
        extra.push(0);
        assert!(decode_answer(&extra).is_err());
        let mut many = Vec::new();
        put(&mut many, b"ok");
        put(&mut many, (MAX_FILES + 1).to_string().as_bytes());
        assert!(decode_answer(&many).is_err());
        assert!(is_request(&encode_request()));
        assert!(!is_request(b"\0\0\0\x04mbox"));
    }

    #[test]
    fn the_helper_reads_the_files_its_own_configuration_names() {
        let d = std::env::temp_dir().join(format!("postern-helper-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let cf = d.join("mysql-users.cf");
        std::fs::write(&cf, "password = s3cret\n").unwrap();
        std::fs::write(
            d.join("main.cf"),
            format!(
                "virtual_alias_maps = proxy:mysql:{}\nsmtpd_tls_key_file = {}/none.key\n",
                cf.display(),
                d.display()
            ),
        )
        .unwrap();
        std::fs::write(d.join("master.cf"), "").unwrap();
        let store = decode_answer(&answer(&d, true)).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.read_file(&cf).unwrap(), b"password = s3cret\n");
        assert!(store.get(&d.join("none.key")).unwrap().is_err());
        assert_eq!(
            decode_answer(&answer(&d, false)).unwrap_err(),
            "the helper does not run as root"
        );
        std::fs::remove_file(d.join("master.cf")).unwrap();
        assert!(decode_answer(&answer(&d, true)).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
