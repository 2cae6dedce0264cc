//! The replica drill: HUMMBL as `docs/PRODUCTION.md` deploys it — three
//! `hummbl serve` processes on one PostgreSQL behind HAProxy configured by
//! `deploy/haproxy.cfg` — under mixed traffic through the proxy (single-event
//! ingest with an ingestion key, console pages and APIs with a session,
//! workflow runs, live execution streams, a per-second schedule) while the
//! first replica is killed with SIGKILL a third of the way in and started
//! again at two thirds. Then it counts what matters: acknowledged events
//! missing from the database, executions that never finished, streams cut
//! and whether each came back through another replica, schedule slots fired
//! twice. `tests/replicas.rs` runs it briefly and asserts; `examples/
//! replica_drill.rs` (`BENCH_PARTS=replicas scripts/bench`) runs it longer
//! and prints the figures.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};

// The includer provides the tests' fake provider (tests/common/fake_provider.rs).
use super::fake_provider;

#[path = "../../examples/shared/bench.rs"]
mod bench;
use bench::percentiles;

/// What to run, and how hard.
#[derive(Debug, Clone)]
pub struct Drill {
    pub hummbl: PathBuf,
    pub haproxy: PathBuf,
    /// `deploy/haproxy.cfg`.
    pub proxy_config: PathBuf,
    /// An empty PostgreSQL database.
    pub database_url: String,
    pub work_dir: PathBuf,
    pub seconds: u64,
    pub ingest_clients: usize,
    pub page_clients: usize,
    pub stream_clients: usize,
    pub run_every: Duration,
    /// How long a dead replica's executions wait before another takes them.
    pub lease_secs: u64,
}

/// What the drill saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub events_acknowledged: usize,
    pub events_missing: usize,
    pub ingest_refused: usize,
    pub ingest_latency: Vec<f64>,
    pub pages_served: usize,
    pub pages_refused: usize,
    pub page_latency: Vec<f64>,
    pub runs_started: usize,
    pub runs_refused: usize,
    pub runs_unfinished: usize,
    pub runs_recovered: i64,
    pub runs_finished_after: Duration,
    pub streams: usize,
    pub streams_cut: usize,
    pub streams_resumed: usize,
    pub streams_resynced: usize,
    pub longest_stream_gap: Duration,
    pub slots: i64,
    pub slots_doubled: i64,
    pub seconds: f64,
    pub killed_at: Duration,
    pub restarted_at: Duration,
    pub back_in_rotation_after: Duration,
}

#[derive(Default)]
struct Tally {
    acked_events: Vec<u64>,
    ingest_refused: usize,
    ingest_latency: Vec<f64>,
    pages_served: usize,
    pages_refused: usize,
    page_latency: Vec<f64>,
    runs: Vec<String>,
    runs_refused: usize,
    streams: Vec<StreamLog>,
}

/// One live stream's life: when it was cut, and when events came again.
#[derive(Default, Clone)]
struct StreamLog {
    cuts: Vec<Instant>,
    resumed: Vec<Instant>,
    resyncs: usize,
}

struct Replica {
    addr: String,
    child: Child,
}

struct Processes {
    replicas: Vec<Replica>,
    proxy: Option<Child>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        for replica in &mut self.replicas {
            let _ = replica.child.kill();
            let _ = replica.child.wait();
        }
        if let Some(proxy) = &mut self.proxy {
            let _ = proxy.kill();
            let _ = proxy.wait();
        }
    }
}

const OWNER: &str = "drill@example.com";
const PASSWORD: &str = "drill-password-1";
const REPLICAS: usize = 3;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Drill {
    fn config_file(&self) -> PathBuf {
        self.work_dir.join("hummbl.toml")
    }

    fn hummbl(&self, master_key: &str) -> Command {
        let mut command = Command::new(&self.hummbl);
        command
            .arg("--config")
            .arg(self.config_file())
            .env("HUMMBL_DATABASE_URL", &self.database_url)
            .env("HUMMBL_MASTER_KEY", master_key)
            .env("HUMMBL_DATA_DIR", self.work_dir.join("data"))
            .env("RUST_LOG", "warn");
        command
    }

    fn start_replica(&self, master_key: &str, addr: &str, n: usize) -> anyhow::Result<Child> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.work_dir.join(format!("replica{n}.log")))?;
        self.hummbl(master_key)
            .args(["serve", "--addr", addr])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start a replica")
    }

    fn start_proxy(&self, bind: &str, replicas: &[Replica]) -> anyhow::Result<Child> {
        let log = std::fs::File::create(self.work_dir.join("haproxy.log"))?;
        let mut command = Command::new(&self.haproxy);
        command
            .arg("-f")
            .arg(&self.proxy_config)
            .arg("-db")
            .env("HUMMBL_PROXY_BIND", bind)
            .stdout(log.try_clone()?)
            .stderr(log);
        for (n, replica) in replicas.iter().enumerate() {
            command.env(format!("HUMMBL_REPLICA_{}", n + 1), &replica.addr);
        }
        command.spawn().context("start haproxy")
    }

    fn prepare(&self, master_key: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.work_dir)?;
        std::fs::write(
            self.config_file(),
            format!(
                "execution_lease_secs = {}\ntrusted_proxies = [\"127.0.0.1\"]\n\
                 provider_allowed_hosts = [\"127.0.0.1\"]\nmax_streams_per_user = 1000\n",
                self.lease_secs
            ),
        )?;
        let migrated = self.hummbl(master_key).arg("migrate").output()?;
        if !migrated.status.success() {
            bail!("migrate: {}", String::from_utf8_lossy(&migrated.stderr));
        }
        let mut create = self
            .hummbl(master_key)
            .args(["user", "create", "--email", OWNER, "--name", "Drill"])
            .args(["--team", "Drill", "--role", "owner", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        if let Some(stdin) = create.stdin.as_mut() {
            std::io::Write::write_all(stdin, format!("{PASSWORD}\n").as_bytes())?;
        }
        if !create.wait()?.success() {
            bail!("user create failed");
        }
        Ok(())
    }

    /// Runs the drill; the processes it started are stopped however it ends.
    pub async fn run(&self) -> anyhow::Result<Report> {
        let master_key = {
            use base64::Engine;
            let bytes: [u8; 32] = rand::random();
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        self.prepare(&master_key)?;
        let mut processes = Processes {
            replicas: Vec::new(),
            proxy: None,
        };
        for n in 1..=REPLICAS {
            let addr = format!("127.0.0.1:{}", free_port()?);
            let child = self.start_replica(&master_key, &addr, n)?;
            processes.replicas.push(Replica { addr, child });
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        for (n, replica) in processes.replicas.iter().enumerate() {
            if let Err(err) = wait_for(&client, &format!("http://{}/readyz", replica.addr)).await {
                let log =
                    std::fs::read_to_string(self.work_dir.join(format!("replica{}.log", n + 1)))
                        .unwrap_or_default();
                bail!("{err}; replica {} said:\n{log}", n + 1);
            }
        }
        let proxy_addr = format!("127.0.0.1:{}", free_port()?);
        processes.proxy = Some(self.start_proxy(&proxy_addr, &processes.replicas)?);
        let base = format!("http://{proxy_addr}");
        if let Err(err) = wait_for(&client, &format!("{base}/readyz")).await {
            let log =
                std::fs::read_to_string(self.work_dir.join("haproxy.log")).unwrap_or_default();
            bail!("{err}; HAProxy said:\n{log}");
        }
        let fake = fake_provider::FakeProvider::start().await;
        let setup = Setup::create(&client, &base, &fake.openai_base()).await?;
        let report = self
            .load(&client, &base, &setup, &master_key, &mut processes)
            .await?;
        drop(fake);
        Ok(report)
    }

    async fn load(
        &self,
        client: &reqwest::Client,
        base: &str,
        setup: &Setup,
        master_key: &str,
        processes: &mut Processes,
    ) -> anyhow::Result<Report> {
        let tally: Arc<Mutex<Tally>> = Arc::default();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(self.seconds);
        let mut tasks = Vec::new();
        for n in 0..self.ingest_clients {
            tasks.push(tokio::spawn(ingest(
                client.clone(),
                base.to_string(),
                setup.clone(),
                tally.clone(),
                deadline,
                n as u64,
            )));
        }
        for n in 0..self.page_clients {
            tasks.push(tokio::spawn(pages(
                client.clone(),
                base.to_string(),
                setup.clone(),
                tally.clone(),
                deadline,
                n,
            )));
        }
        tasks.push(tokio::spawn(runs(
            client.clone(),
            base.to_string(),
            setup.clone(),
            tally.clone(),
            deadline,
            self.run_every,
        )));
        let stream_client = reqwest::Client::new();
        for n in 0..self.stream_clients {
            tally
                .lock()
                .map_err(|_| anyhow::anyhow!("tally"))?
                .streams
                .push(StreamLog::default());
            tasks.push(tokio::spawn(stream(
                stream_client.clone(),
                base.to_string(),
                setup.clone(),
                tally.clone(),
                deadline,
                n,
            )));
        }

        // A third in: the first replica dies; at two thirds it comes back.
        let third = Duration::from_secs(self.seconds) / 3;
        tokio::time::sleep_until((started + third).into()).await;
        let killed_at = started.elapsed();
        processes.replicas[0].child.kill()?;
        processes.replicas[0].child.wait()?;
        tokio::time::sleep_until((started + third * 2).into()).await;
        let restarted_at = started.elapsed();
        let addr = processes.replicas[0].addr.clone();
        processes.replicas[0].child = self.start_replica(master_key, &addr, 1)?;
        wait_for(client, &format!("http://{addr}/readyz")).await?;
        let back_in_rotation_after = started.elapsed() - restarted_at;
        for task in tasks {
            task.await?;
        }
        let seconds = started.elapsed().as_secs_f64();
        setup.stop_schedule(client, base).await?;

        let settled = Instant::now();
        let db = sqlx::PgPool::connect(&self.database_url).await?;
        let tally = std::mem::take(&mut *tally.lock().map_err(|_| anyhow::anyhow!("tally"))?);
        let unfinished = wait_until_finished(&db, &tally.runs, self.lease_secs).await?;
        let runs_finished_after = settled.elapsed();
        let missing = missing_events(&db, &tally.acked_events).await?;
        let (runs_recovered,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM executions WHERE recoveries > 0")
                .fetch_one(&db)
                .await?;
        let (slots, scheduled): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM schedule_slots WHERE schedule_id = $1 AND outcome = 'fired'), \
                    (SELECT COUNT(*) FROM executions WHERE schedule_id = $1)",
        )
        .bind(&setup.schedule)
        .fetch_one(&db)
        .await?;
        db.close().await;
        let cut: Vec<&StreamLog> = tally
            .streams
            .iter()
            .filter(|s| !s.cuts.is_empty())
            .collect();
        let resumed = cut
            .iter()
            .filter(|log| log.resumed.len() >= log.cuts.len())
            .count();
        let longest_stream_gap = cut
            .iter()
            .flat_map(|log| {
                log.cuts
                    .iter()
                    .zip(&log.resumed)
                    .map(|(cut, back)| back.duration_since(*cut))
            })
            .max()
            .unwrap_or_default();
        Ok(Report {
            events_acknowledged: tally.acked_events.len(),
            events_missing: missing,
            ingest_refused: tally.ingest_refused,
            ingest_latency: tally.ingest_latency,
            pages_served: tally.pages_served,
            pages_refused: tally.pages_refused,
            page_latency: tally.page_latency,
            runs_started: tally.runs.len(),
            runs_refused: tally.runs_refused,
            runs_unfinished: unfinished,
            runs_recovered,
            runs_finished_after,
            streams: tally.streams.len(),
            streams_cut: cut.len(),
            streams_resumed: resumed,
            streams_resynced: tally.streams.iter().filter(|s| s.resyncs > 0).count(),
            longest_stream_gap,
            slots,
            slots_doubled: scheduled - slots,
            seconds,
            killed_at,
            restarted_at,
            back_in_rotation_after,
        })
    }
}

async fn wait_for(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    for _ in 0..600 {
        if let Ok(answer) = client.get(url).send().await
            && answer.status() == 200
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} never answered 200")
}

/// What the load needs: a session, an ingestion key, a workflow, a schedule.
#[derive(Clone)]
struct Setup {
    cookie: String,
    ingestion_key: String,
    workflow: String,
    schedule: String,
}

impl Setup {
    async fn create(client: &reqwest::Client, base: &str, provider: &str) -> anyhow::Result<Setup> {
        let login = client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"email": OWNER, "password": PASSWORD}))
            .send()
            .await?;
        if login.status() != 200 {
            bail!("sign-in through the proxy: {}", login.status());
        }
        let cookie = login
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.split(';').next())
            .collect::<Vec<_>>()
            .join("; ");
        let create = |path: &'static str, body: Value, field: &'static str| {
            created(client, base, &cookie, path, body, field)
        };
        let ingestion_key = create("/api/ingestion-keys", json!({"name": "drill"}), "key").await?;
        let provider_key = create(
            "/api/keys",
            json!({"provider": "openai", "label": "drill", "key": fake_provider::GOOD_KEY, "base_url": provider}),
            "id",
        )
        .await?;
        let agent = create(
            "/api/agents",
            json!({"name": "drill", "provider": "openai", "model": "gpt-4o-mini",
                   "key_id": provider_key, "instructions": "Answer briefly."}),
            "id",
        )
        .await?;
        // Each step takes a while, so the killed replica has runs in flight.
        let workflow = create(
            "/api/workflows",
            json!({"name": "drill", "steps": [
                {"id": "first", "agent": agent, "prompt": "[slow:300] {{input.topic}}"},
                {"id": "second", "agent": agent, "prompt": "[slow:300] {{steps.first.output}}", "depends_on": ["first"]}]}),
            "id",
        )
        .await?;
        let schedule = create(
            "/api/schedules",
            json!({"workflow_id": workflow, "cron": "* * * * * *", "timezone": "UTC", "overlap": "allow_all",
                   "input": {"topic": "the schedule"}}),
            "id",
        )
        .await?;
        Ok(Setup {
            cookie,
            ingestion_key,
            workflow,
            schedule,
        })
    }

    async fn stop_schedule(&self, client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
        let answer = client
            .patch(format!("{base}/api/schedules/{}", self.schedule))
            .header("cookie", &self.cookie)
            .json(&json!({"enabled": false}))
            .send()
            .await?;
        if answer.status() != 200 {
            bail!("switching the schedule off: {}", answer.status());
        }
        // A slot claimed just before lands now.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok(())
    }
}

/// POSTs `body` with the session and returns the answer's `field`; any
/// other answer than 201 is an error naming the path and what came back.
async fn created(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
    body: Value,
    field: &str,
) -> anyhow::Result<String> {
    let answer = client
        .post(format!("{base}{path}"))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await?;
    let status = answer.status();
    let body: Value = answer.json().await?;
    match (status.as_u16(), body[field].as_str()) {
        (201, Some(value)) => Ok(value.to_string()),
        _ => bail!("POST {path}: {status} {body}"),
    }
}

fn tally_of(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    match tally.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

async fn ingest(
    client: reqwest::Client,
    base: String,
    setup: Setup,
    tally: Arc<Mutex<Tally>>,
    deadline: Instant,
    client_number: u64,
) {
    let mut n = client_number * 1_000_000_000;
    while Instant::now() < deadline {
        n += 1;
        let sent = Instant::now();
        let answer = client
            .post(format!("{base}/api/telemetry/track"))
            .bearer_auth(&setup.ingestion_key)
            .json(&json!({"component": "drill", "action": "drill", "properties": {"n": n}}))
            .send()
            .await;
        let ms = sent.elapsed().as_secs_f64() * 1000.0;
        let mut tally = tally_of(&tally);
        match answer {
            Ok(answer) if answer.status() == 200 => {
                tally.acked_events.push(n);
                tally.ingest_latency.push(ms);
            }
            _ => tally.ingest_refused += 1,
        }
    }
}

const PAGES: &[&str] = &[
    "/analytics",
    "/monitor",
    "/api/executions?limit=20",
    "/logs/errors",
];

async fn pages(
    client: reqwest::Client,
    base: String,
    setup: Setup,
    tally: Arc<Mutex<Tally>>,
    deadline: Instant,
    client_number: usize,
) {
    let mut n = client_number;
    while Instant::now() < deadline {
        n += 1;
        let sent = Instant::now();
        let answer = client
            .get(format!("{base}{}", PAGES[n % PAGES.len()]))
            .header("cookie", &setup.cookie)
            .send()
            .await;
        let ok = match answer {
            Ok(answer) => answer.status() == 200 && answer.bytes().await.is_ok(),
            Err(_) => false,
        };
        let ms = sent.elapsed().as_secs_f64() * 1000.0;
        let mut tally = tally_of(&tally);
        if ok {
            tally.pages_served += 1;
            tally.page_latency.push(ms);
        } else {
            tally.pages_refused += 1;
        }
    }
}

async fn runs(
    client: reqwest::Client,
    base: String,
    setup: Setup,
    tally: Arc<Mutex<Tally>>,
    deadline: Instant,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    while Instant::now() < deadline {
        ticks.tick().await;
        let answer = client
            .post(format!("{base}/api/workflows/{}/run", setup.workflow))
            .header("cookie", &setup.cookie)
            .json(&json!({"input": {"topic": "tides"}}))
            .send()
            .await;
        let id = match answer {
            Ok(answer) if answer.status() == 201 => answer
                .json::<Value>()
                .await
                .ok()
                .and_then(|body| body["id"].as_str().map(str::to_string)),
            _ => None,
        };
        let mut tally = tally_of(&tally);
        match id {
            Some(id) => tally.runs.push(id),
            None => tally.runs_refused += 1,
        }
    }
}

/// A live stream that, like a browser's EventSource, reconnects when cut and
/// sends the last id it saw.
async fn stream(
    client: reqwest::Client,
    base: String,
    setup: Setup,
    tally: Arc<Mutex<Tally>>,
    deadline: Instant,
    index: usize,
) {
    let mut last_id: Option<String> = None;
    let mut waiting_since: Option<Instant> = None;
    while Instant::now() < deadline {
        let mut request = client
            .get(format!("{base}/api/executions/stream"))
            .header("cookie", &setup.cookie);
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id);
        }
        let Ok(answer) = request.send().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if answer.status() != 200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let mut body = answer.bytes_stream();
        let mut buffer = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = match tokio::time::timeout(left, body.next()).await {
                Err(_) => return, // the drill is over
                Ok(Some(Ok(chunk))) => chunk,
                Ok(_) => break, // cut
            };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let is_event = frame.lines().any(|line| line.starts_with("event: "));
                if !is_event {
                    continue; // a keep-alive comment
                }
                if let Some(id) = frame.lines().find_map(|line| line.strip_prefix("id: ")) {
                    last_id = Some(id.to_string());
                }
                let mut tally = tally_of(&tally);
                let log = &mut tally.streams[index];
                if frame.contains("event: resync") {
                    log.resyncs += 1;
                }
                if waiting_since.take().is_some() {
                    log.resumed.push(Instant::now());
                }
            }
        }
        if Instant::now() < deadline {
            waiting_since = Some(Instant::now());
            tally_of(&tally).streams[index].cuts.push(Instant::now());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits (up to a few leases) for every acknowledged run to end; how many did not.
async fn wait_until_finished(
    db: &sqlx::PgPool,
    runs: &[String],
    lease_secs: u64,
) -> anyhow::Result<usize> {
    let ours: HashSet<&str> = runs.iter().map(String::as_str).collect();
    let give_up = Instant::now() + Duration::from_secs(lease_secs * 4 + 60);
    loop {
        let open: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM executions WHERE status IN ('pending', 'running')")
                .fetch_all(db)
                .await?;
        let unfinished = open
            .iter()
            .filter(|(id,)| ours.contains(id.as_str()))
            .count();
        if unfinished == 0 || Instant::now() > give_up {
            return Ok(unfinished);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Acknowledged events the database does not hold.
async fn missing_events(db: &sqlx::PgPool, acked: &[u64]) -> anyhow::Result<usize> {
    let payloads: Vec<(String,)> =
        sqlx::query_as("SELECT payload FROM user_actions WHERE action_type = 'drill'")
            .fetch_all(db)
            .await?;
    let stored: HashSet<u64> = payloads
        .iter()
        .filter_map(|(payload,)| serde_json::from_str::<Value>(payload).ok())
        .filter_map(|payload| payload["n"].as_u64())
        .collect();
    Ok(acked.iter().filter(|n| !stored.contains(n)).count())
}

impl Report {
    /// The figures as a Markdown table.
    pub fn table(&self, drill: &Drill) -> String {
        let r = self;
        let (ingest_p50, ingest_p99) = percentiles(&mut r.ingest_latency.clone());
        let (page_p50, page_p99) = percentiles(&mut r.page_latency.clone());
        let mut rows = Vec::new();
        rows.push("| figure | value |".to_string());
        rows.push("|---|---|".to_string());
        rows.push(format!(
            "| run | {:.0} s; replica 1 killed at {:.1} s, restarted at {:.1} s, ready {:.1} s later |",
            r.seconds,
            r.killed_at.as_secs_f64(),
            r.restarted_at.as_secs_f64(),
            r.back_in_rotation_after.as_secs_f64()
        ));
        rows.push(format!(
            "| ingest ({} clients, single events) | {} acknowledged ({:.0}/s), p50 {:.1} ms, p99 {:.1} ms; {} refused or cut; **{} missing** |",
            drill.ingest_clients,
            r.events_acknowledged,
            r.events_acknowledged as f64 / r.seconds,
            ingest_p50,
            ingest_p99,
            r.ingest_refused,
            r.events_missing
        ));
        rows.push(format!(
            "| pages and APIs ({} clients) | {} served ({:.0}/s), p50 {:.1} ms, p99 {:.1} ms; {} refused or cut |",
            drill.page_clients,
            r.pages_served,
            r.pages_served as f64 / r.seconds,
            page_p50,
            page_p99,
            r.pages_refused
        ));
        rows.push(format!(
            "| workflow runs (one every {} ms, two 300 ms steps) | {} started, {} refused; {} taken over from the dead replica; **{} unfinished**; all done {:.1} s after the load |",
            drill.run_every.as_millis(),
            r.runs_started,
            r.runs_refused,
            r.runs_recovered,
            r.runs_unfinished,
            r.runs_finished_after.as_secs_f64()
        ));
        rows.push(format!(
            "| live streams | {} open; {} cut with the replica, **{} resumed** through another ({} told to resync), longest gap {:.2} s |",
            r.streams,
            r.streams_cut,
            r.streams_resumed,
            r.streams_resynced,
            r.longest_stream_gap.as_secs_f64()
        ));
        rows.push(format!(
            "| per-second schedule | {} slots fired, **{} doubled** |",
            r.slots, r.slots_doubled
        ));
        rows.join("\n")
    }
}

/// Where `deploy/haproxy.cfg` is, from the crate root.
pub fn proxy_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/haproxy.cfg")
}
