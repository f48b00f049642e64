// The migrations are embedded in the binary by `sqlx::migrate!`: a new or changed migration
// must rebuild it, which cargo does not know by itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
