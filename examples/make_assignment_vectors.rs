//! Writes `tests/fixtures/assignment-vectors.json`:
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
    Ok(())
}
