use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: the ingest path allocates many
/// small strings across threads, where glibc malloc spends a fifth of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = hummbl::config::Cli::parse();
    match hummbl::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hummbl: {err:#}");
            ExitCode::FAILURE
        }
    }
}
