//! `sqlx::migrate!` embeds `migrations/` at compile time, but Cargo does not know the crate reads
//! that folder: without this, adding a migration leaves an older build of the crate in place.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
