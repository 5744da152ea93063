//! The structural privacy boundary: `Sinks::publish` takes an `Event`, and handing it a frame, a
//! tensor, a decoded picture or raw bytes does not compile. Each case in `tests/ui/` is compiled
//! by trybuild and must fail with the compiler output saved beside it (`TRYBUILD=overwrite`
//! regenerates the `.stderr` files after a deliberate change).

#[test]
fn pixels_cannot_reach_a_sink() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/sink_*.rs");
}
