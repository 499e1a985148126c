//! Engine micro-benchmarks.
fn main() {}
