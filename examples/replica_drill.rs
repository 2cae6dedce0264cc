//! The replica drill as a benchmark (`BENCH_PARTS=replicas scripts/bench`):
//! three replicas on one PostgreSQL behind HAProxy (`deploy/haproxy.cfg`),
//! mixed traffic through the proxy, the first replica killed at a third of
//! the run and restarted at two thirds; prints the figures as Markdown rows.
//!
//! replica_drill HUMMBL HAPROXY DATABASE_URL WORK_DIR [SECONDS] [INGEST] [PAGES] [STREAMS]

#[path = "../tests/replica_drill/mod.rs"]
mod drill;
#[path = "../tests/common/fake_provider.rs"]
mod fake_provider;

use std::path::PathBuf;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 4,
        "usage: replica_drill HUMMBL HAPROXY DATABASE_URL WORK_DIR [SECONDS] [INGEST] [PAGES] [STREAMS]"
    );
    let number = |index: usize, default: u64| -> anyhow::Result<u64> {
        Ok(args
            .get(index)
            .map(|n| n.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let drill = drill::Drill {
        hummbl: PathBuf::from(&args[0]),
        haproxy: PathBuf::from(&args[1]),
        proxy_config: drill::proxy_config(),
        database_url: args[2].clone(),
        work_dir: PathBuf::from(&args[3]),
        seconds: number(4, 60)?,
        ingest_clients: number(5, 16)? as usize,
        page_clients: number(6, 4)? as usize,
        stream_clients: number(7, 100)? as usize,
        run_every: Duration::from_millis(50),
        lease_secs: 5,
    };
    let report = drill.run().await?;
    println!("{}", report.table(&drill));
    Ok(())
}
