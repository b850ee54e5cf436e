//! Criterion benchmarks of menwei's hot paths live in `benches/*.rs` of this package; this
//! library is empty on purpose. Run them with `cargo bench -p menwei-benches`.
