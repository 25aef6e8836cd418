//! The `aicarpool` binary: parses the command line and hands over to [`aicarpool::cli`].

fn main() -> std::process::ExitCode {
    aicarpool::cli::main()
}
