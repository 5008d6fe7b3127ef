//! Lists the fuzz targets, or (re)builds their seed corpora for cargo-fuzz.
//!
//! ```text
//! umbra-fuzz-corpus list
//! umbra-fuzz-corpus build <out-dir> [target...]
//! umbra-fuzz-corpus dict <file>
//! ```
//!
//! `fuzz/run.sh` calls both; see `fuzz/README.md`.

// A command-line tool: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{path::PathBuf, process::ExitCode};

use umbra_fuzz::{TARGETS, corpus};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((command, [])) if command == "list" => {
            for target in TARGETS {
                println!("{}", target.name);
            }
            ExitCode::SUCCESS
        }
        Some((command, [out, targets @ ..])) if command == "build" => {
            let root = corpus::workspace_root();
            match corpus::build(&root, &PathBuf::from(out), targets) {
                Ok(written) => {
                    for (name, count) in written {
                        println!("{name}: {count} seeds");
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("umbra-fuzz-corpus: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Some((command, [file])) if command == "dict" => {
            let root = corpus::workspace_root();
            let written = corpus::Seeds::load(&root)
                .and_then(|seeds| std::fs::write(file, corpus::dictionary(&seeds)));
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("umbra-fuzz-corpus: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: umbra-fuzz-corpus list | build <out-dir> [target...] | dict <file>");
            ExitCode::from(2)
        }
    }
}
