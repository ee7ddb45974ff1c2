//! `local`: Postern's privileged local delivery helper (see `postern::delivery::privileged`),
//! and, as `local postlogd CONFIG_DIR`, the root writer of $maillog_file
//! (`postern::log::postlogd`). Started by the master as root; not meant to be run by hand.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "postlogd" {
        std::process::exit(postern::log::postlogd::main(std::path::Path::new(&args[2])));
    }
    std::process::exit(postern::delivery::privileged::helper_main(&args));
}
