//! `local`: Postern's privileged local delivery helper (see `postern::delivery::privileged`).
//! Started by the master as root; not meant to be run by hand.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(postern::delivery::privileged::helper_main(&args));
}
