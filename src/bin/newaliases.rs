//! `newaliases`: rebuild the alias database(s) named in $alias_database
//! (see `postern::postmap`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(postern::postmap::newaliases_command(&args));
}
