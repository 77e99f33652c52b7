//! Every compile error `#[idempotent]` can emit, pinned with its message and
//! span. Regenerate with `TRYBUILD=overwrite`, then read every `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
