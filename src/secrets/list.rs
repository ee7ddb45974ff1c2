//! Which files are secrets, derived from main.cf and master.cf by one function
//! (`secret_files`), used both by the root master at start and by the root helper on
//! reload (`load_list`, from the helper's own configuration directory).
//!
//! The list: every file named by a `mysql:`, `pgsql:`, `sqlite:` or `ldap:` table (also
//! behind `proxy:`, and inside `{...}` such as `unionmap:{...}`) with an absolute path, in any
//! main.cf value or master.cf `-o` override; the TLS certificate and key files
//! (`TLS_FILES`); and, when Cyrus SASL authentication is enabled (in main.cf or an `-o`),
//! `$smtpd_sasl_path.conf` in each directory of $cyrus_sasl_config_path (else the usual
//! Cyrus directories), as optional files: Cyrus uses the first that exists. One level
//! down, `nested_files`: the absolute `option_file` a mysql .cf names (read by
//! `Store::read` once the .cf is read, by the master and the helper alike).
//!
//! Security role: decides what the root processes read on the master's behalf; the input is
//! root-owned configuration, never a request. Logs nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::master_cf::{self, Service};
use crate::config::{Config, split_list};

/// Table types whose configuration file may hold a password.
pub const SECRET_TABLE_TYPES: &[&str] = &["mysql", "pgsql", "sqlite", "ldap"];

/// Parameters naming TLS certificate and key files (lists for the chain files).
pub const TLS_FILES: &[&str] = &[
    "smtpd_tls_cert_file",
    "smtpd_tls_key_file",
    "smtpd_tls_dcert_file",
    "smtpd_tls_dkey_file",
    "smtpd_tls_eccert_file",
    "smtpd_tls_eckey_file",
    "smtpd_tls_chain_files",
    "smtp_tls_cert_file",
    "smtp_tls_key_file",
    "smtp_tls_chain_files",
];

/// Where Cyrus SASL configurations are looked for when $cyrus_sasl_config_path is empty,
/// after Debian's `$config_directory/sasl`: libsasl2's usual places (Debian, RHEL).
const CYRUS_DIRS: &[&str] = &[
    "/etc/sasl2",
    "/usr/lib/sasl2",
    "/usr/lib64/sasl2",
    "/usr/lib/x86_64-linux-gnu/sasl2",
];

/// The Cyrus SASL configuration files smtpd may use, in the order they are tried:
/// `$smtpd_sasl_path.conf` in each directory of $cyrus_sasl_config_path, else in
/// `$config_directory/sasl` and CYRUS_DIRS.
pub fn sasl_config_candidates(cfg: &Config) -> Vec<PathBuf> {
    let conf = format!("{}.conf", cfg.get("smtpd_sasl_path").trim());
    let configured: Vec<String> = cfg
        .get("cyrus_sasl_config_path")
        .split(':')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(String::from)
        .collect();
    let dirs = if configured.is_empty() {
        let mut d = vec![format!("{}/sasl", cfg.get("config_directory"))];
        d.extend(CYRUS_DIRS.iter().map(|s| s.to_string()));
        d
    } else {
        configured
    };
    let mut out: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let p = Path::new(&d).join(&conf);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// One secret file; an optional one that does not exist is no error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    pub path: PathBuf,
    pub optional: bool,
    /// A mysql .cf file: the `option_file` it names is a secret too (`nested_files`).
    pub mysql: bool,
}

impl SecretFile {
    /// A file the configuration names outright.
    pub fn required(path: PathBuf) -> SecretFile {
        SecretFile {
            path,
            optional: false,
            mysql: false,
        }
    }
}

/// Files that the contents of secret file `f` name as secrets: a mysql .cf's absolute
/// `option_file` (my.cnf-style, it may hold the password).
pub fn nested_files(f: &SecretFile, contents: &[u8]) -> Vec<SecretFile> {
    if !f.mysql {
        return Vec::new();
    }
    String::from_utf8_lossy(contents)
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| l.split_once('='))
        .filter(|(name, value)| name.trim() == "option_file" && value.trim().starts_with('/'))
        .map(|(_, value)| SecretFile::required(PathBuf::from(value.trim())))
        .collect()
}

/// The secret files named by `cfg` (main.cf) and the `-o` overrides of `services`, sorted
/// by path, each once.
pub fn secret_files(cfg: &Config, services: &[Service]) -> Vec<SecretFile> {
    let mut found: BTreeMap<PathBuf, (bool, bool)> = BTreeMap::new();
    for (_, value) in cfg.all() {
        table_files(&value, &mut found);
    }
    scan_tls_and_sasl(cfg, &mut found);
    for svc in services.iter().filter(|s| !s.overrides.is_empty()) {
        let mut overrides = vec![("service_name".to_string(), svc.name.clone())];
        overrides.extend(svc.overrides.iter().cloned());
        let svc_cfg = cfg.with_overrides(&overrides);
        for (name, _) in &svc.overrides {
            table_files(svc_cfg.get(name), &mut found);
        }
        scan_tls_and_sasl(&svc_cfg, &mut found);
    }
    found
        .into_iter()
        .map(|(path, (optional, mysql))| SecretFile {
            path,
            optional,
            mysql,
        })
        .collect()
}

/// The secret files of the configuration in `dir` (main.cf and master.cf, both required).
pub fn load_list(dir: &Path) -> Result<Vec<SecretFile>, String> {
    let cfg = Config::load(dir).map_err(|e| e.to_string())?;
    let path = dir.join("master.cf");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("open {}: {}", path.display(), e))?;
    let services =
        master_cf::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    Ok(secret_files(&cfg, &services))
}

/// Files found so far: path -> (optional, mysql).
type Found = BTreeMap<PathBuf, (bool, bool)>;

/// Record a file; a file both optional and required is required.
fn add(found: &mut Found, path: PathBuf, optional: bool, mysql: bool) {
    let e = found.entry(path).or_insert((optional, mysql));
    *e = (e.0 && optional, e.1 || mysql);
}

/// The files of secret-holding table specs in a list value.
fn table_files(value: &str, found: &mut Found) {
    for token in split_list(value) {
        for piece in token.split('{') {
            let mut spec = piece.trim_end_matches('}');
            while let Some(rest) = spec.strip_prefix("proxy:") {
                spec = rest;
            }
            if let Some((ty, name)) = spec.split_once(':')
                && SECRET_TABLE_TYPES.contains(&ty)
                && name.starts_with('/')
            {
                add(found, PathBuf::from(name), false, ty == "mysql");
            }
        }
    }
}

fn scan_tls_and_sasl(cfg: &Config, found: &mut Found) {
    for name in TLS_FILES {
        for f in split_list(cfg.get(name)) {
            add(found, PathBuf::from(f), false, false);
        }
    }
    if cfg.bool("smtpd_sasl_auth_enable") && cfg.get("smtpd_sasl_type").trim() == "cyrus" {
        for p in sasl_config_candidates(cfg) {
            add(found, p, true, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs(Path::new("/etc/postfix"), pairs)
    }

    fn paths(list: &[SecretFile]) -> Vec<(&str, bool)> {
        list.iter()
            .map(|f| (f.path.to_str().unwrap(), f.optional))
            .collect()
    }

    #[test]
    fn tables_in_main_cf_and_overrides_are_secrets() {
        let c = cfg(&[
            (
                "virtual_mailbox_maps",
                "proxy:mysql:/etc/postfix/mysql-vmb.cf",
            ),
            (
                "smtpd_recipient_restrictions",
                "check_recipient_access pgsql:/etc/postfix/pg.cf, hash:/etc/postfix/access",
            ),
            (
                "alias_maps",
                "unionmap:{ldap:/etc/postfix/ldap.cf, hash:/etc/aliases}",
            ),
            ("my_maps", "sqlite:/etc/postfix/$sqlname"),
            ("sqlname", "lite.cf"),
            // Old-style settings in main.cf (relative names) and other types are not files.
            (
                "relocated_maps",
                "mysql:oldstyle texthash:/etc/postfix/relocated",
            ),
        ]);
        let svcs = master_cf::parse(
            "submission inet n - n - - smtpd -o smtpd_sender_login_maps=mysql:/etc/postfix/sub.cf\n\
             relay unix - - n - - smtp -o smtp_tls_key_file=/etc/ssl/private/relay.key\n",
            "master.cf",
        )
        .unwrap();
        assert_eq!(
            paths(&secret_files(&c, &svcs)),
            vec![
                ("/etc/postfix/ldap.cf", false),
                ("/etc/postfix/lite.cf", false),
                ("/etc/postfix/mysql-vmb.cf", false),
                ("/etc/postfix/pg.cf", false),
                ("/etc/postfix/sub.cf", false),
                ("/etc/ssl/private/relay.key", false),
            ]
        );
    }

    #[test]
    fn tls_files_and_sasl_configuration_are_secrets() {
        let c = cfg(&[
            ("smtpd_tls_cert_file", "/etc/ssl/certs/mx.pem"),
            ("smtpd_tls_key_file", "/etc/ssl/private/mx.key"),
            ("smtpd_tls_eckey_file", "/etc/ssl/private/mx-ec.key"),
            ("smtp_tls_chain_files", "/etc/ssl/a.pem, /etc/ssl/b.pem"),
        ]);
        assert_eq!(
            paths(&secret_files(&c, &[])),
            vec![
                ("/etc/ssl/a.pem", false),
                ("/etc/ssl/b.pem", false),
                ("/etc/ssl/certs/mx.pem", false),
                ("/etc/ssl/private/mx-ec.key", false),
                ("/etc/ssl/private/mx.key", false),
            ]
        );
        assert!(
            secret_files(&cfg(&[]), &[]).is_empty(),
            "nothing by default"
        );
        // SASL enabled on one service: its configuration in the configured directories.
        let c = cfg(&[("cyrus_sasl_config_path", "/etc/postfix/sasl:/etc/sasl2")]);
        let svcs = master_cf::parse(
            "submission inet n - n - - smtpd -o smtpd_sasl_auth_enable=yes\n",
            "master.cf",
        )
        .unwrap();
        assert_eq!(
            paths(&secret_files(&c, &svcs)),
            vec![
                ("/etc/postfix/sasl/smtpd.conf", true),
                ("/etc/sasl2/smtpd.conf", true),
            ]
        );
        // Dovecot SASL has no configuration file of Postern's to read.
        let c = cfg(&[
            ("smtpd_sasl_auth_enable", "yes"),
            ("smtpd_sasl_type", "dovecot"),
        ]);
        assert!(secret_files(&c, &[]).is_empty());
        let c = cfg(&[("smtpd_sasl_auth_enable", "yes")]);
        assert_eq!(secret_files(&c, &[]).len(), CYRUS_DIRS.len() + 1);
    }

    #[test]
    fn a_mysql_option_file_is_a_secret_too() {
        let c = cfg(&[(
            "virtual_mailbox_maps",
            "mysql:/etc/postfix/my.cf pgsql:/etc/postfix/pg.cf",
        )]);
        let list = secret_files(&c, &[]);
        assert_eq!(
            list.iter().map(|f| f.mysql).collect::<Vec<_>>(),
            vec![true, false]
        );
        let text = b"# option_file = /not/this\nuser = u\n option_file = /nor/this\noption_file = /etc/mysql/postfix.cnf\noption_group = client\n";
        assert_eq!(
            nested_files(&list[0], text),
            vec![SecretFile::required("/etc/mysql/postfix.cnf".into())]
        );
        assert!(nested_files(&list[1], text).is_empty());
        assert!(nested_files(&list[0], b"option_file = relative.cnf\n").is_empty());
    }

    #[test]
    fn load_list_reads_the_configuration_directory() {
        let d = std::env::temp_dir().join(format!("postern-secret-list-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("main.cf"), "transport_maps = mysql:/etc/t.cf\n").unwrap();
        let e = load_list(&d).unwrap_err();
        assert!(e.contains("master.cf"), "{}", e);
        std::fs::write(d.join("master.cf"), "").unwrap();
        assert_eq!(paths(&load_list(&d).unwrap()), vec![("/etc/t.cf", false)]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
