//! Writes `tests/fixtures/assignment-vectors.json` and `tests/fixtures/layer-vectors.json`:
//! `cargo run --example make_assignment_vectors`.

#[path = "../tests/domain/common/vectors_gen.rs"]
mod vectors_gen;

fn main() -> std::io::Result<()> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/assignment-vectors.json"
    );
    let json = vectors_gen::vectors_json();
    std::fs::write(path, &json)?;
    println!("wrote {} vectors to {path}", vectors_gen::vectors().len());
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/layer-vectors.json"
    );
    std::fs::write(path, vectors_gen::layer_vectors_json())?;
    println!(
        "wrote {} layer vectors to {path}",
        vectors_gen::layer_vectors().len()
    );
    Ok(())
}
