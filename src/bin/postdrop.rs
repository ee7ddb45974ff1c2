//! postdrop(1): the setgid ($setgid_group) program that writes a message into maildrop/.
//! It reads a queue file on standard input (written by sendmail) and prints the maildrop ID.

use std::path::Path;

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
    let cfg = match Config::load(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("postdrop: fatal: {}", e);
            std::process::exit(75);
        }
    };
    let queue = Queue::new(Path::new(cfg.get("queue_directory")));
    match postern::pickup::postdrop(&queue, &mut std::io::stdin().lock()) {
        Ok(id) => println!("{}", id),
        Err(e) => {
            eprintln!("postdrop: fatal: {}", e);
            std::process::exit(75);
        }
    }
}
