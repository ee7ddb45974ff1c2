//! Fuzzes main.cf parsing: `config::parse::parse_main_cf` (name = value lines, comments,
//! continuation lines) through `Config::from_text` (defaults, `$name` expansion), then every
//! explicitly set parameter read as string, number, boolean, time and list, as the daemons
//! read them.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use postern::config::{Config, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pairs) = parse::parse_main_cf(text, "main.cf") else {
        return;
    };
    let map = parse::to_map(&pairs);
    for (_, value, _) in &pairs {
        let _ = parse::expand(value, &|n: &str| map.get(n).cloned());
    }
    let Ok(cfg) = Config::from_text(Path::new("/nonexistent"), text, "main.cf") else {
        panic!("parse_main_cf accepted what Config::from_text refuses");
    };
    for (name, _) in cfg.explicit() {
        let _ = cfg.get(&name);
        let _ = cfg.int(&name);
        let _ = cfg.bool(&name);
        let _ = cfg.time(&name);
        let _ = cfg.list(&name);
    }
});
