//! The `sunfill` command.
mod heidelberg;
fn main() {}
