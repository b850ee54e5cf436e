//! Integration tests that cross crate boundaries or drive the project's scripts. The tests
//! live in `tests/*.rs` of this package; this library is empty on purpose.
