//! Printing main.cf parameters: `postconf [-dhHnfx] [name...]`.
//!
//! Values are printed as written (raw) unless -x; the table is every parameter Postern knows
//! with main.cf (and `-o`) settings applied, plus user-defined parameters that something
//! refers to. Names set in main.cf that nothing knows or refers to get Postfix's
//! `unused parameter` warning, and a name asked for that does not exist gets
//! `NAME: unknown parameter` (both on standard error, exit status 0), as Postfix 3 does.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::{Options, PostconfError, fold};
use crate::config::{Config, DEFAULT_CONFIG_DIR};

/// The parameter table postconf prints: raw and expanded values by name.
pub struct Table {
    pub raw: BTreeMap<String, String>,
    cfg: Config,
}

impl Table {
    /// The raw value of a parameter, if it exists.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.raw.get(name).map(String::as_str)
    }

    /// The expanded value (`-x`).
    pub fn expanded(&self, name: &str) -> String {
        self.cfg.get(name).to_string()
    }
}

/// The built-in defaults (`postconf -d`), with the host-derived ones computed as at run time.
pub fn defaults(dir: &Path) -> Table {
    let cfg = Config::from_pairs(dir, &[]);
    let mut raw = BTreeMap::new();
    for p in crate::config::all_params() {
        raw.insert(p.name.to_string(), p.default.to_string());
    }
    raw.insert("config_directory".into(), DEFAULT_CONFIG_DIR.to_string());
    for n in ["myhostname", "mydomain"] {
        raw.insert(n.to_string(), cfg.get(n).to_string());
    }
    Table { raw, cfg }
}

/// The actual settings: defaults with main.cf applied. `unused` are the names set in main.cf
/// that are not shown (the warnings name them).
pub fn actual(cfg: &Config, master_cf: Option<&str>) -> (Table, Vec<String>) {
    let dir = cfg.dir().to_path_buf();
    let mut table = defaults(&dir);
    table
        .raw
        .insert("config_directory".into(), dir.display().to_string());
    for n in ["myhostname", "mydomain"] {
        table.raw.insert(n.to_string(), cfg.get(n).to_string());
    }
    // The defaults main.cf's compatibility_level changes.
    for p in crate::config::all_params() {
        match cfg.default_of(p.name) {
            Some(d) if d != p.default => {
                table.raw.insert(p.name.to_string(), d.to_string());
            }
            _ => {}
        }
    }
    let explicit = cfg.explicit();
    let unused = crate::config::unused_names(cfg, &explicit, master_cf);
    for (name, value) in explicit {
        if !unused.contains(&name) {
            table.raw.insert(name, value);
        }
    }
    table.cfg = cfg.clone();
    (table, unused)
}

/// `postconf [-dhHnfx] [name...]`.
pub fn show(opts: &Options, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), PostconfError> {
    let (table, unused, explicit) = if opts.defaults {
        (defaults(&opts.config_dir), Vec::new(), Vec::new())
    } else {
        let cfg = Config::load(&opts.config_dir).map_err(PostconfError::Config)?;
        let cfg = if opts.overrides.is_empty() {
            cfg
        } else {
            cfg.with_overrides(&opts.overrides)
        };
        let master = std::fs::read_to_string(opts.config_dir.join("master.cf")).ok();
        let explicit = cfg.explicit();
        let (table, unused) = actual(&cfg, master.as_deref());
        (table, unused, explicit)
    };
    let names: Vec<String> = if !opts.args.is_empty() {
        opts.args.clone()
    } else if opts.explicit_only && !opts.defaults {
        explicit
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| !unused.contains(n))
            .collect()
    } else {
        table.raw.keys().cloned().collect()
    };
    let mut lines = Vec::new();
    for name in &names {
        let Some(raw) = table.raw(name) else {
            let _ = writeln!(err, "postconf: warning: {}: unknown parameter", name);
            continue;
        };
        let value = if opts.expand {
            table.expanded(name)
        } else {
            raw.to_string()
        };
        lines.push(format_line(name, &value, opts));
    }
    for l in lines {
        if writeln!(out, "{}", l).is_err() {
            break;
        }
    }
    let main_cf = opts.config_dir.join("main.cf");
    for name in &unused {
        let value = explicit_value(&table, name);
        let _ = writeln!(
            err,
            "postconf: warning: {}: unused parameter: {}={}",
            main_cf.display(),
            name,
            value
        );
    }
    Ok(())
}

/// The raw main.cf value of an unused (hence not tabled) name, for its warning.
fn explicit_value(table: &Table, name: &str) -> String {
    table
        .cfg
        .explicit()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// One output line: `name = value`, or `-h` value, or `-H` name; folded with `-f`.
pub fn format_line(name: &str, value: &str, opts: &Options) -> String {
    let line = if opts.names_only {
        name.to_string()
    } else if opts.values_only {
        value.to_string()
    } else {
        format!("{} = {}", name, value)
    };
    if opts.fold { fold(&line) } else { line }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postconf::Mode;
    use std::path::PathBuf;

    fn dir_with(main_cf: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "postern-postconf-show-{}-{}",
            std::process::id(),
            main_cf.len()
        ));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("main.cf"), main_cf).unwrap();
        d
    }

    fn run_show(opts: &Options) -> (String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        show(opts, &mut out, &mut err).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn raw_expanded_and_unknown() {
        let d = dir_with(
            "myhostname = mx.example.org\nsmtpd_banner = $myhostname hi\nfoo = 1\nbar = 2\nmynetworks = $bar\n",
        );
        let mut o = Options::new(d.clone(), Mode::Show);
        o.args = vec!["smtpd_banner".into(), "nosuch".into()];
        let (out, err) = run_show(&o);
        assert_eq!(out, "smtpd_banner = $myhostname hi\n");
        assert!(err.contains("postconf: warning: nosuch: unknown parameter\n"));
        assert!(err.contains(&format!(
            "postconf: warning: {}/main.cf: unused parameter: foo=1\n",
            d.display()
        )));
        // bar is referenced by mynetworks: not unused, and shown.
        assert!(!err.contains("bar=2"));
        o.expand = true;
        o.args = vec!["smtpd_banner".into(), "mynetworks".into()];
        let (out, _) = run_show(&o);
        assert_eq!(out, "smtpd_banner = mx.example.org hi\nmynetworks = 2\n");
        o.expand = false;
        o.values_only = true;
        o.args = vec!["message_size_limit".into()];
        assert_eq!(run_show(&o).0, "10240000\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn explicit_only_sorted_and_defaults() {
        let d = dir_with(
            "# c\nsmtpd_timeout = 60s\nalias_maps = hash:/x\n  hash:/y\nzzz_unknown = 3\n",
        );
        let mut o = Options::new(d.clone(), Mode::Show);
        o.explicit_only = true;
        let (out, err) = run_show(&o);
        assert_eq!(out, "alias_maps = hash:/x hash:/y\nsmtpd_timeout = 60s\n");
        assert!(err.contains("unused parameter: zzz_unknown=3"));
        let mut o = Options::new(d.clone(), Mode::Show);
        o.defaults = true;
        o.args = vec!["smtpd_timeout".into(), "config_directory".into()];
        let (out, err) = run_show(&o);
        assert_eq!(
            out,
            format!(
                "smtpd_timeout = 300s\nconfig_directory = {}\n",
                DEFAULT_CONFIG_DIR
            )
        );
        assert_eq!(err, "");
        let mut o = Options::new(d.clone(), Mode::Show);
        o.args = vec!["config_directory".into()];
        assert_eq!(
            run_show(&o).0,
            format!("config_directory = {}\n", d.display())
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn all_is_sorted_and_complete() {
        let d = dir_with("smtpd_timeout = 60s\n");
        let o = Options::new(d.clone(), Mode::Show);
        let (out, _) = run_show(&o);
        let names: Vec<&str> = out.lines().map(|l| l.split(" =").next().unwrap()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), crate::config::all_params().count());
        assert!(out.contains("\nsmtpd_timeout = 60s\n"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn missing_main_cf_is_fatal() {
        let o = Options::new(PathBuf::from("/nonexistent/postern"), Mode::Show);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let e = show(&o, &mut out, &mut err).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/postern/main.cf"));
    }
}
