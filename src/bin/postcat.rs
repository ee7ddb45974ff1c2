//! postcat(1): show queue files. `postcat [-c dir] [-ehbv] [-q] files...` — with -q the
//! arguments are queue IDs looked up in every queue.

use std::path::PathBuf;

use postern::config::{Config, config_dir};
use postern::queue::Queue;
use postern::queue::cat::{Sections, render_path};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = getopts::Options::new();
    opts.optopt("c", "", "configuration directory", "DIR");
    for f in ["e", "h", "b", "q", "o", "v", "s"] {
        opts.optflagmulti(f, "", "");
    }
    let m = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("postcat: fatal: {}", e);
            eprintln!("usage: postcat [-c config_dir] [-bhe] [-q] file(s)...");
            std::process::exit(1);
        }
    };
    let sel = Sections {
        envelope: m.opt_present("e"),
        header: m.opt_present("h"),
        body: m.opt_present("b"),
    };
    let mut targets: Vec<(PathBuf, String)> = Vec::new();
    if m.opt_present("q") {
        let dir = config_dir(m.opt_str("c").as_deref());
        let cfg = match Config::load(&dir) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("postcat: fatal: {}", e);
                std::process::exit(1);
            }
        };
        let queue = Queue::from_config(&cfg);
        for id in &m.free {
            // Postern's queues, then the files Postfix left (hashed subdirectories, long IDs).
            let found = queue
                .locate(id)
                .and_then(|q| Some((queue.find(q, id)?, q)))
                .or_else(|| {
                    postern::queue::postfix_import::locate(&queue, id).map(|f| (f.path, f.queue))
                });
            match found {
                Some((path, q)) => targets.push((path, format!("{}/{}", q.dir_name(), id))),
                None => {
                    eprintln!(
                        "postcat: fatal: open queue file {}: No such file or directory",
                        id
                    );
                    std::process::exit(1);
                }
            }
        }
    } else {
        targets = m
            .free
            .iter()
            .map(|f| (PathBuf::from(f), f.clone()))
            .collect();
    }
    if targets.is_empty() {
        eprintln!("usage: postcat [-c config_dir] [-bhe] [-q] file(s)...");
        std::process::exit(1);
    }
    let mut code = 0;
    for (path, label) in targets {
        match render_path(&path, &label, sel) {
            Ok(text) => print!("{}", text),
            Err(e) => {
                eprintln!("postcat: fatal: {}: {}", label, e);
                code = 1;
            }
        }
    }
    std::process::exit(code);
}
