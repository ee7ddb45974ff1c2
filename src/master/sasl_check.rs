//! `postfix check`'s SASL report: for main.cf and each smtpd service of master.cf with
//! smtpd_sasl_auth_enable = yes and smtpd_sasl_type = cyrus, which Cyrus SASL application
//! configuration file (`$smtpd_sasl_path.conf`) smtpd will use, or that none was found
//! where it is looked for (crate::secrets::sasl_config_candidates). Postfix's own check
//! does not report this; Postern does because it chooses the file itself (see crate::sasl).
//!
//! Security role: none beyond reading the file (through crate::secrets::read_file) to
//! tell whether it is readable; its contents are never shown. Logs nothing itself: the
//! caller prints each line (`info` lines and `warning` lines).

use crate::config::Config;
use crate::config::master_cf::Service;

/// One line of the report: a warning or information.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Info(String),
    Warning(String),
}

/// The report for `cfg` (main.cf) and the `-o` overrides of the smtpd `services`.
pub fn report(cfg: &Config, services: &[Service]) -> Vec<Line> {
    let mut out = Vec::new();
    one(cfg, "main.cf", &mut out);
    for svc in services.iter().filter(|s| s.is_smtpd_listener()) {
        if svc.overrides.is_empty() {
            continue;
        }
        let svc_cfg = cfg.with_overrides(&svc.overrides);
        one(&svc_cfg, &format!("service {}", svc.name), &mut out);
    }
    out
}

fn one(cfg: &Config, whose: &str, out: &mut Vec<Line>) {
    if !cfg.bool("smtpd_sasl_auth_enable") || cfg.get("smtpd_sasl_type").trim() != "cyrus" {
        return;
    }
    let line = match crate::sasl::conf::load(cfg) {
        Ok(c) => match c.path {
            Some(p) => Line::Info(format!("SASL ({}): using {}", whose, p.display())),
            None => Line::Warning(format!(
                "SASL ({}): no {}.conf in {}: libsasl2's defaults apply",
                whose,
                cfg.get("smtpd_sasl_path").trim(),
                dirs(cfg)
            )),
        },
        Err(e) => Line::Warning(format!("SASL ({}): {}", whose, e)),
    };
    if !out.contains(&line) {
        out.push(line);
    }
}

fn dirs(cfg: &Config) -> String {
    crate::secrets::sasl_config_candidates(cfg)
        .iter()
        .filter_map(|p| p.parent().map(|d| d.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_file_in_use_or_where_it_was_looked_for() {
        let d = std::env::temp_dir().join(format!("postern-saslcheck-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let conf = d.to_str().unwrap();
        let cfg = Config::from_pairs(
            &d,
            &[
                ("smtpd_sasl_auth_enable", "yes"),
                ("cyrus_sasl_config_path", conf),
            ],
        );
        let r = report(&cfg, &[]);
        assert!(
            matches!(&r[..], [Line::Warning(w)] if w.contains("no smtpd.conf in ")),
            "{r:?}"
        );
        std::fs::write(d.join("smtpd.conf"), "pwcheck_method: saslauthd\n").unwrap();
        assert_eq!(
            report(&cfg, &[]),
            vec![Line::Info(format!(
                "SASL (main.cf): using {}/smtpd.conf",
                conf
            ))]
        );
        let off = Config::from_pairs(&d, &[]);
        assert!(report(&off, &[]).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
