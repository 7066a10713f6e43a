//! `make bindings`: regenerate ui/src/lib/bindings.ts from the Rust commands.

fn main() {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(spoke_app::BINDINGS_PATH);
    spoke_app::specta_builder().export(spoke_app::typescript(), &out).expect("export bindings");
    println!("wrote {}", out.display());
}
