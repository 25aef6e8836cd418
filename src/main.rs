//! The `aicarpool` binary: parses the command line and hands over to [`aicarpool::cli`].

/// mimalloc rather than glibc's allocator: the request path allocates many small buffers on
/// two threads at once, and mimalloc hands freed memory back to the system after a load peak
/// instead of keeping it in per-thread arenas (measured in the benchmark: CPU per request and
/// resident memory after an overload). Built without transparent huge pages: with them, one
/// touched byte can commit two megabytes, which cost 15 MB of resident memory at idle.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    aicarpool::cli::main()
}
