//! Writes the seed corpus: `cargo run --example gen_seeds -- <dir>` (default
//! `seeds`, relative to the fuzz crate) creates `<dir>/<target>/<name>`.

use std::fs;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = std::env::args().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds"),
        PathBuf::from,
    );
    let sets = [
        ("parse", synack_fuzz::seeds::parse()),
        ("stack_input", synack_fuzz::seeds::stack_input()),
        ("reassembly", synack_fuzz::seeds::reassembly()),
    ];
    for (target, seeds) in sets {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        for (name, bytes) in &seeds {
            fs::write(dir.join(name), bytes)?;
        }
        println!("{target}: {} seeds in {}", seeds.len(), dir.display());
    }
    Ok(())
}
