//! `postalias`: build or query Postern's indexed tables (see `postern::tables::postmap_src`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(postern::tables::postmap_src::table_command(
        "postalias",
        &args,
        true,
    ));
}
