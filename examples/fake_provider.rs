//! The tests' fake OpenAI/Anthropic server as a program, for `scripts/bench`:
//! answers at once (no markers in the prompt), prints its address, runs until
//! killed.
//!
//! cargo run --release --example fake_provider

#[path = "../tests/common/fake_provider.rs"]
mod fake_provider;

#[tokio::main]
async fn main() {
    let running = fake_provider::FakeProvider::start().await;
    println!("{}", running.addr);
    let _ = tokio::signal::ctrl_c().await;
    drop(running);
}
