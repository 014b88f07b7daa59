//! The `siaga` binary: parses the command line and runs the command.

/// mimalloc instead of glibc malloc: on the order path glibc's malloc, free and their arena
/// locks took about an eighth of the CPU (see bench/README.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    siaga::cli::main()
}
