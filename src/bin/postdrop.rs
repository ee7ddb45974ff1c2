//! postdrop(1): the setgid ($setgid_group) program that writes a message into maildrop/.
//! It reads a queue file on standard input (written by sendmail) and prints the maildrop ID;
//! with `-r` (sendmail -bs) it prints the ID first, then reads the queue file. The work is
//! in `postern::postdrop`, with the rule for `-c`/MAIL_CONFIG of a set-gid program.

use postern::config::{Config, config_dir};
use postern::queue::Queue;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = getopts::Options::new();
    opts.optopt("c", "", "configuration directory", "DIR");
    opts.optflagmulti("r", "", "");
    opts.optflagmulti("v", "", "");
    let m = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("postdrop: fatal: {}", e);
            std::process::exit(64);
        }
    };
    let dir = config_dir(m.opt_str("c").as_deref());
    // Set-gid: another configuration directory only when the default main.cf allows it.
    postern::postdrop::require_own_config_dir("postdrop", &dir);
    let cfg = match Config::load(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("postdrop: fatal: {}", e);
            std::process::exit(75);
        }
    };
    let queue = Queue::from_config(&cfg);
    let mut input = std::io::stdin().lock();
    if m.opt_present("r") {
        // sendmail -bs: the maildrop ID first, then the queue file.
        let r = postern::postdrop::postdrop_streamed(&queue, &mut input, &mut std::io::stdout());
        if let Err(e) = r {
            eprintln!("postdrop: fatal: {}", e);
            std::process::exit(75);
        }
        return;
    }
    match postern::postdrop::postdrop(&queue, &mut input) {
        Ok(id) => println!("{}", id),
        Err(e) => {
            eprintln!("postdrop: fatal: {}", e);
            std::process::exit(75);
        }
    }
}
