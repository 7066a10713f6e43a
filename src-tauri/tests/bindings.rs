//! The committed TypeScript bindings must match what the Rust commands generate today.
//! On failure run `make bindings` and commit ui/src/lib/bindings.ts.

#[test]
fn committed_bindings_match_rust_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("bindings.ts");
    spoke_app::specta_builder().export(spoke_app::typescript(), &fresh).expect("export bindings");
    let committed_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(spoke_app::BINDINGS_PATH);
    let committed = std::fs::read_to_string(&committed_path)
        .unwrap_or_else(|e| panic!("{} missing ({e}); run `make bindings`", committed_path.display()));
    let fresh = std::fs::read_to_string(&fresh).unwrap();
    assert!(
        committed == fresh,
        "ui/src/lib/bindings.ts has drifted from the Rust commands; run `make bindings` and commit it"
    );
}
