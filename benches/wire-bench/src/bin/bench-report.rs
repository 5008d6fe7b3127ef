//! Prints the markdown table of `docs/benchmarks.md` from the results of the last
//! `cargo bench -p umbra-wire-bench`.
//!
//! ```text
//! cargo run -p umbra-wire-bench --bin bench-report [-- <criterion dir>]
//! ```
//!
//! The criterion directory defaults to `target/criterion` of this workspace (or
//! `$CARGO_TARGET_DIR/criterion`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{path::PathBuf, process::ExitCode};

use umbra_wire_bench::report;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(report::default_dir, PathBuf::from);
    match report::load(&dir) {
        Ok(results) if results.is_empty() => {
            eprintln!(
                "no criterion results under {}: run `cargo bench -p umbra-wire-bench` first",
                dir.display()
            );
            ExitCode::FAILURE
        }
        Ok(results) => {
            print!("{}", report::markdown(&results));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "cannot read criterion results under {}: {error}\n\
                 run `cargo bench -p umbra-wire-bench` first",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}
