//! postfix(1): control the mail system. `postfix [-c config_dir] [-Dv] command`.

use postern::config::config_dir;
use postern::master::control;

fn usage() -> i32 {
    eprintln!("usage: postfix [-c config_dir] [-Dv] command");
    eprintln!("commands: start start-fg stop abort reload flush status check logrotate");
    1
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = getopts::Options::new();
    opts.optopt("c", "", "configuration directory", "DIR");
    opts.optflagmulti("D", "", "debug (ignored)");
    opts.optflagmulti("v", "", "verbose (ignored)");
    let m = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("postfix: fatal: {}", e);
            std::process::exit(usage());
        }
    };
    let dir = config_dir(m.opt_str("c").as_deref());
    let code = match m.free.first().map(String::as_str) {
        Some("start") => control::start(&dir),
        Some("start-fg") => control::start_fg(&dir),
        Some("__master") => control::daemon(&dir),
        Some("stop") => control::stop(&dir, false),
        Some("abort") => control::stop(&dir, true),
        Some("reload") => control::reload(&dir),
        Some("flush") => control::flush(&dir),
        Some("status") => control::status(&dir),
        Some("check") => control::check(&dir),
        Some("logrotate") => postern::master::logrotate::logrotate(&dir),
        Some(other) => {
            eprintln!("postfix: fatal: unknown command: '{}'", other);
            usage()
        }
        None => usage(),
    };
    std::process::exit(code);
}
