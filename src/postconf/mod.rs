//! postconf(1): show and change the configuration. `show` prints main.cf parameters (all,
//! by name, only those set in main.cf with -n, defaults with -d, expanded with -x, values
//! only with -h, folded with -f), `edit` changes main.cf in place (-e, -#, -X) and `master`
//! prints master.cf entries, fields and `-o` parameters (-M, -F, -P). -m, -a and -A list the
//! lookup table types (the table registry, `tables::registry`) and SASL plug-in types.
//!
//! Security role: an administrator's tool. It only reads the configuration directory, and
//! writes main.cf atomically (temporary file in the same directory, fsync, rename) keeping the
//! file's mode and owner, so a crash or a concurrent reader never sees half a file; editors
//! are serialised with a lock on main.cf. Follows Postfix's postconf(1); messages are
//! Postfix's `postconf: warning: ...` / `postconf: fatal: ...` on standard error. It logs
//! nothing to the maillog.

pub mod edit;
pub mod master;
pub mod show;

use std::fmt;
use std::io::Write;
use std::path::PathBuf;

use crate::config::ConfigError;
use crate::config::master_cf::MasterCfError;

/// What postconf is asked to do (one per invocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Print main.cf parameters (the default).
    Show,
    /// `-e` (or a `name=value` argument): set parameters in main.cf.
    Edit,
    /// `-#`: comment parameters out.
    Comment,
    /// `-X`: remove parameters.
    Remove,
    /// `-M`: master.cf entries.
    MasterEntries,
    /// `-F`: master.cf fields.
    MasterFields,
    /// `-P`: master.cf `-o` parameters.
    MasterParams,
    /// `-m`: lookup table types.
    TableTypes,
    /// `-a`: SASL server plug-in types.
    SaslServer,
    /// `-A`: SASL client plug-in types.
    SaslClient,
}

/// Everything the command line says.
#[derive(Debug, Clone)]
pub struct Options {
    pub config_dir: PathBuf,
    pub mode: Mode,
    /// `-d`: defaults instead of main.cf settings.
    pub defaults: bool,
    /// `-n`: only parameters set in main.cf.
    pub explicit_only: bool,
    /// `-h`: values without `name = `.
    pub values_only: bool,
    /// `-H`: names without ` = value`.
    pub names_only: bool,
    /// `-x`: expand `$name` in values.
    pub expand: bool,
    /// `-f`: fold long lines.
    pub fold: bool,
    /// `-o name=value`: override main.cf settings for this command.
    pub overrides: Vec<(String, String)>,
    /// The remaining arguments (names, `name=value`, `service/type...`).
    pub args: Vec<String>,
}

impl Options {
    /// Options for `mode` with every flag off.
    pub fn new(config_dir: PathBuf, mode: Mode) -> Options {
        Options {
            config_dir,
            mode,
            defaults: false,
            explicit_only: false,
            values_only: false,
            names_only: false,
            expand: false,
            fold: false,
            overrides: Vec::new(),
            args: Vec::new(),
        }
    }
}

/// Why postconf stops (printed as `postconf: fatal: ...`, exit 1).
#[derive(Debug)]
pub enum PostconfError {
    /// main.cf could not be read or has a syntax error.
    Config(ConfigError),
    /// master.cf could not be read.
    MasterIo { path: PathBuf, err: std::io::Error },
    /// master.cf has a syntax error.
    Master(MasterCfError),
    /// A command-line argument is not what the option needs.
    BadArgument(String),
    /// Writing main.cf failed; the file is unchanged.
    Write { path: PathBuf, err: std::io::Error },
    /// The options do not go together.
    Usage(String),
}

impl fmt::Display for PostconfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostconfError::Config(e) => write!(f, "{}", e),
            PostconfError::MasterIo { path, err } => {
                write!(f, "open {}: {}", path.display(), err)
            }
            PostconfError::Master(e) => write!(f, "{}", e),
            PostconfError::BadArgument(m) | PostconfError::Usage(m) => write!(f, "{}", m),
            PostconfError::Write { path, err } => write!(f, "edit {}: {}", path.display(), err),
        }
    }
}

impl std::error::Error for PostconfError {}

/// SASL plug-in types for the SMTP server (`-a`: smtpd's, `cyrus` and `dovecot`) and client (`-A`: none,
/// the SMTP client has no AUTH), as Postfix lists the plug-ins compiled in.
pub const SASL_SERVER_TYPES: &[&str] = crate::smtpd::sasl::SERVER_TYPES;
pub const SASL_CLIENT_TYPES: &[&str] = &[];

/// Run postconf. Results go to `out`, warnings (`postconf: warning: ...`) to `err`; an `Err`
/// is fatal. Write errors on `out` (a closed pipe) end the output quietly.
pub fn run(opts: &Options, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), PostconfError> {
    let list = |out: &mut dyn Write, items: &[&str]| {
        for i in items {
            if writeln!(out, "{}", i).is_err() {
                break;
            }
        }
    };
    match opts.mode {
        Mode::TableTypes => {
            let types: Vec<&str> = crate::tables::registry::names().collect();
            list(out, &types);
            Ok(())
        }
        Mode::SaslServer => {
            list(out, SASL_SERVER_TYPES);
            Ok(())
        }
        Mode::SaslClient => {
            list(out, SASL_CLIENT_TYPES);
            Ok(())
        }
        Mode::Show => show::show(opts, out, err),
        Mode::Edit | Mode::Comment | Mode::Remove => edit::run(opts),
        Mode::MasterEntries | Mode::MasterFields | Mode::MasterParams => master::show(opts, out),
    }
}

/// Fold `text` for `-f`: break at white space before column 80, continuation lines indented
/// by four spaces (a word longer than the line stays whole).
pub fn fold(text: &str) -> String {
    const LIMIT: usize = 80;
    let mut out = String::with_capacity(text.len() + 8);
    let mut col = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if col == 0 {
            out.push_str(word);
            col = word.len();
        } else if col + 1 + word.len() > LIMIT {
            out.push_str("\n    ");
            out.push_str(word);
            col = 4 + word.len();
        } else {
            out.push(' ');
            out.push_str(word);
            col += 1 + word.len();
        }
    }
    out
}

/// Whether `name` is a well-formed parameter name (letters, digits, `_`; as main.cf allows).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_breaks_at_80_with_indent() {
        let words: Vec<String> = (0..30).map(|i| format!("word{:02}", i)).collect();
        let text = format!("name = {}", words.join(" "));
        let folded = fold(&text);
        let lines: Vec<&str> = folded.lines().collect();
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.len() <= 80));
        assert!(lines[1..].iter().all(|l| l.starts_with("    w")));
        assert_eq!(folded.split_whitespace().count(), 32);
        assert_eq!(fold("a = b"), "a = b");
    }

    #[test]
    fn names() {
        assert!(valid_name("smtpd_banner"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
        assert!(!valid_name("a-b"));
    }

    #[test]
    fn lists_types() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let o = Options::new(PathBuf::from("/nonexistent"), Mode::SaslServer);
        run(&o, &mut out, &mut err).unwrap();
        assert_eq!(out, b"cyrus\ndovecot\n", "the SMTP server's SASL plug-ins");
        let o = Options::new(PathBuf::from("/nonexistent"), Mode::TableTypes);
        out.clear();
        run(&o, &mut out, &mut err).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().any(|l| l == "hash"));
        let registry: Vec<&str> = crate::tables::registry::names().collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), registry);
    }
}
