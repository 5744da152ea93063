//! The `lookout` command: a thin shell over the library; exit 0 ok, 1 runtime failure, 2 bad input.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
