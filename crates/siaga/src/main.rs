//! The `siaga` binary: parses the command line and runs the command.

fn main() -> std::process::ExitCode {
    siaga::cli::main()
}
