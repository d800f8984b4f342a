//! The `sunfill` command.
fn main() {}
