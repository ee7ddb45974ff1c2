//! newaliases(1): rebuild every hash/btree alias database named in $alias_database, with
//! postalias's rules (first of duplicate names wins, with a warning). `sendmail -bi` runs
//! it too. Security role: run by the administrator (or root's mail tools); writes only
//! `FILE.db` atomically. Exit status and messages as postalias.

use std::path::PathBuf;

use super::fatal;

/// Split a `[type:]file` argument; types postalias does not build (all but hash and btree,
/// says the table registry) are refused.
pub fn split_spec(arg: &str, default_type: &str) -> Result<(String, PathBuf), String> {
    let (kind, name) = match arg.split_once(':') {
        Some((k, n)) if !k.contains('/') => (k, n),
        _ => (default_type, arg),
    };
    match crate::tables::registry::find(kind) {
        Some(t) if t.builds() => Ok((kind.to_string(), PathBuf::from(name))),
        _ => Err(format!("unsupported dictionary type: {}", kind)),
    }
}

/// `newaliases [-c dir]`: rebuild every hash/btree table named in $alias_database.
pub fn newaliases_command(args: &[String]) -> i32 {
    let prog = "newaliases";
    let mut opts = getopts::Options::new();
    opts.optopt("c", "", "configuration directory", "DIR");
    opts.optflagmulti("v", "", "verbose");
    let m = match opts.parse(args) {
        Ok(m) => m,
        Err(e) => return fatal(prog, &e.to_string()),
    };
    let dir = crate::config::config_dir(m.opt_str("c").as_deref());
    let cfg = match crate::config::Config::load(&dir) {
        Ok(c) => c,
        Err(e) => return fatal(prog, &e.to_string()),
    };
    for spec in cfg.list("alias_database") {
        let spec = spec.strip_prefix("proxy:").unwrap_or(&spec);
        let (kind, file) = match split_spec(spec, cfg.get("default_database_type")) {
            Ok(s) => s,
            Err(e) => return fatal(prog, &e),
        };
        // The same build as postalias: first of duplicate names wins, with a warning.
        if let Err(e) = super::build_aliases(prog, &cfg, &kind, &file) {
            return fatal(prog, &e);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            split_spec("/etc/x", "hash").unwrap(),
            ("hash".to_string(), PathBuf::from("/etc/x"))
        );
        assert_eq!(split_spec("btree:/etc/x", "hash").unwrap().0, "btree");
        assert!(split_spec("cdb:/etc/x", "hash").is_err());
    }
}
