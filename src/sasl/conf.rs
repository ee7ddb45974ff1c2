//! The Cyrus SASL application configuration (`$smtpd_sasl_path.conf`, e.g. smtpd.conf with
//! `pwcheck_method: saslauthd`, `mech_list: PLAIN LOGIN`, `saslauthd_path: ...`): which file
//! is used and its `key: value` options.
//!
//! The file is the first of `crate::secrets::sasl_config_candidates` that exists (the
//! directories of $cyrus_sasl_config_path, else `$config_directory/sasl`, /etc/sasl2,
//! /usr/lib/sasl2, /usr/lib64/sasl2, /usr/lib/x86_64-linux-gnu/sasl2). It is read through
//! `crate::secrets::read_file`, so a root-only file preloaded by the master is honoured
//! after the privilege drop; the options reach libsasl2 through its GETOPT callback.
//!
//! Security role: may hold secrets (e.g. an LDAP bind password for saslauthd's
//! neighbours); never logged. Logs nothing itself (the caller reports errors).

use std::io;
use std::path::PathBuf;

use crate::config::Config;

/// The options of the configuration file in use, if any.
#[derive(Clone, Default, PartialEq)]
pub struct SaslConf {
    /// The file the options came from; `None` when no candidate exists.
    pub path: Option<PathBuf>,
    pub options: Vec<(String, String)>,
}

/// Why the configuration could not be loaded.
#[derive(Debug)]
pub struct ConfError {
    pub path: PathBuf,
    pub error: io::Error,
}

impl std::fmt::Display for ConfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read {}: {}", self.path.display(), self.error)
    }
}

/// Find and load the configuration file for `cfg` (the first candidate that exists).
pub fn load(cfg: &Config) -> Result<SaslConf, ConfError> {
    for path in crate::secrets::sasl_config_candidates(cfg) {
        match crate::secrets::read_file(&path) {
            Ok(bytes) => {
                return Ok(SaslConf {
                    options: parse(&String::from_utf8_lossy(&bytes)),
                    path: Some(path),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(ConfError { path, error }),
        }
    }
    Ok(SaslConf::default())
}

/// `key: value` lines as libsasl2 reads them: `#` starts a comment line, blank lines are
/// skipped, the key ends at the first `:` and the value is trimmed.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// The directories searched, colon-separated (libsasl2's configuration path syntax).
pub fn search_path(cfg: &Config) -> String {
    crate::secrets::sasl_config_candidates(cfg)
        .iter()
        .filter_map(|p| p.parent().map(|d| d.display().to_string()))
        .collect::<Vec<_>>()
        .join(":")
}

/// The path and option names only: values may be secrets.
impl std::fmt::Debug for SaslConf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslConf")
            .field("path", &self.path)
            .field(
                "options",
                &self.options.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SaslConf {
    /// The directory of the file in use (given to libsasl2 as its configuration path).
    pub fn dir(&self) -> Option<String> {
        let p = self.path.as_ref()?;
        Some(p.parent()?.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_libsasl2() {
        let t = "# saslauthd\npwcheck_method: saslauthd\n\n mech_list:  PLAIN LOGIN \nsaslauthd_path: /run/x:y/mux\nbogus\n";
        assert_eq!(
            parse(t),
            vec![
                ("pwcheck_method".into(), "saslauthd".into()),
                ("mech_list".into(), "PLAIN LOGIN".into()),
                ("saslauthd_path".into(), "/run/x:y/mux".into()),
            ]
        );
    }

    #[test]
    fn first_existing_candidate_wins() {
        let d = std::env::temp_dir().join(format!("postern-saslconf-{}", std::process::id()));
        let (a, b) = (d.join("a"), d.join("b"));
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("smtpd.conf"), "mech_list: PLAIN\n").unwrap();
        let path = format!("{}:{}", a.display(), b.display());
        let cfg = Config::from_pairs(&d, &[("cyrus_sasl_config_path", path.as_str())]);
        let c = load(&cfg).unwrap();
        assert_eq!(c.path, Some(b.join("smtpd.conf")));
        assert_eq!(c.options, vec![("mech_list".into(), "PLAIN".into())]);
        assert_eq!(c.dir(), Some(b.display().to_string()));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
