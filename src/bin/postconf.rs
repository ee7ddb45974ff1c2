//! postconf(1): show or change the Postfix configuration (see `postern::postconf`).
//! `postconf [-dfhHnx] [-c dir] [-o name=value] [name...]`, `postconf -e name=value...`,
//! `postconf -# name...`, `postconf -X name...`, `postconf -M|-F|-P [-fhx] [selector...]`,
//! `postconf -m|-a|-A`.

use postern::config::config_dir;
use postern::postconf::{Mode, Options, run};

const USAGE: &str = "usage: postconf [-aAdefFhHmMnPxX#] [-c config_dir] [-o name=value] [name...]";

fn fatal(msg: &str) -> ! {
    eprintln!("postconf: fatal: {}", msg);
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = getopts::Options::new();
    opts.optopt("c", "", "configuration directory", "DIR");
    opts.optmulti("o", "", "override a main.cf parameter", "NAME=VALUE");
    for f in [
        "a", "A", "d", "e", "f", "F", "h", "H", "m", "M", "n", "P", "x", "X", "#",
    ] {
        opts.optflag(f, "", "");
    }
    opts.optflagmulti("v", "", "verbose (ignored)");
    let m = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("postconf: fatal: {}", e);
            eprintln!("{}", USAGE);
            std::process::exit(1);
        }
    };
    let modes: Vec<(&str, Mode)> = [
        ("e", Mode::Edit),
        ("#", Mode::Comment),
        ("X", Mode::Remove),
        ("M", Mode::MasterEntries),
        ("F", Mode::MasterFields),
        ("P", Mode::MasterParams),
        ("m", Mode::TableTypes),
        ("a", Mode::SaslServer),
        ("A", Mode::SaslClient),
    ]
    .into_iter()
    .filter(|(f, _)| m.opt_present(f))
    .collect();
    let master = |f: &str| matches!(f, "M" | "F" | "P");
    let mode = match modes.as_slice() {
        [] if m.free.iter().any(|a| a.contains('=')) => Mode::Edit,
        [] => Mode::Show,
        [(_, mode)] => *mode,
        [(a, _), (b, _)] if (*a == "e" && master(b)) || (*b == "e" && master(a)) => fatal(
            "editing master.cf with -e is not supported; edit master.cf and run \"postfix reload\"",
        ),
        _ => fatal(&format!(
            "options {} cannot be combined",
            modes
                .iter()
                .map(|(f, _)| format!("-{}", f))
                .collect::<Vec<_>>()
                .join(" ")
        )),
    };
    let mut o = Options::new(config_dir(m.opt_str("c").as_deref()), mode);
    o.defaults = m.opt_present("d");
    o.explicit_only = m.opt_present("n");
    o.values_only = m.opt_present("h");
    o.names_only = m.opt_present("H");
    o.expand = m.opt_present("x");
    o.fold = m.opt_present("f");
    for kv in m.opt_strs("o") {
        match postern::postconf::edit::parse_assignment(&kv) {
            Ok(pair) => o.overrides.push(pair),
            Err(e) => fatal(&e.to_string()),
        }
    }
    if o.defaults && o.explicit_only {
        fatal("-d and -n cannot be combined");
    }
    o.args = m.free;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    if let Err(e) = run(&o, &mut out, &mut err) {
        drop(out);
        fatal(&e.to_string());
    }
}
