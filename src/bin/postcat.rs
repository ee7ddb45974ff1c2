//! postcat(1): show queue files. `postcat [-c dir] [-ehbv] [-q] files...` — with -q the
//! arguments are queue IDs looked up in every queue.

use std::path::PathBuf;

use postern::config::{Config, config_dir};
use postern::queue::cat::{Sections, render};
use postern::queue::{Queue, QueueFile};

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
        let queue = Queue::new(std::path::Path::new(cfg.get("queue_directory")));
        for id in &m.free {
            match queue.locate(id) {
                Some(q) => targets.push((queue.path(q, id), format!("{}/{}", q.dir_name(), id))),
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
        match QueueFile::open_read_only(&path)
            .map_err(|e| e.to_string())
            .and_then(|mut qf| render(&mut qf, &label, sel).map_err(|e| e.to_string()))
        {
            Ok(text) => print!("{}", text),
            Err(e) => {
                eprintln!("postcat: fatal: {}: {}", label, e);
                code = 1;
            }
        }
    }
    std::process::exit(code);
}
