use std::process::ExitCode;

use clap::Parser;

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
