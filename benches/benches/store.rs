//! Store micro-benchmarks.
fn main() {}
