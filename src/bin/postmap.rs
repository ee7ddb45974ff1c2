//! `postmap`: build or query Postern's indexed tables (see `postern::postmap`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(postern::postmap::table_command("postmap", &args, false));
}
