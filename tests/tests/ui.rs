//! Every compile error `#[idempotent]` can emit, pinned with its message and
//! span. Regenerate with `TRYBUILD=overwrite`, then read every `.stderr`.
//!
//! The goldens embed rustc's own wording, which changes between releases, so
//! they are pinned to one toolchain: on another one the test says so and
//! does not compare (under `CI` it fails instead, so CI never skips it).

/// The toolchain the goldens were written on (`rustc -V`).
const TOOLCHAIN: &str = "rustc 1.95.";

#[test]
fn ui() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !version.starts_with(TOOLCHAIN) {
        assert!(
            !idem_tests::in_ci(),
            "the UI goldens are pinned to {TOOLCHAIN}x, this is {version}: regenerate them \
             with TRYBUILD=overwrite on the new toolchain and read every diff"
        );
        eprintln!("NOT RUN: UI goldens are pinned to {TOOLCHAIN}x; this is {version}");
        return;
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
