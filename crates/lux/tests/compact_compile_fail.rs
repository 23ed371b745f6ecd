//! `compact!`'s compile errors (trybuild): the macro's input errors with
//! Lux's messages, a tuple mixing layers and non-layers, a value that
//! cannot be stored. One test function: each case is a separate build.

#[test]
fn compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
