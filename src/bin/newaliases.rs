//! `newaliases`: rebuild the alias database(s) named in $alias_database
//! (see `postern::tables::postmap_src`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(postern::tables::postmap_src::newaliases_command(&args));
}
