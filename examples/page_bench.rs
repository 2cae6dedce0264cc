//! Page and API server times for `scripts/bench`, against a running HUMMBL with
//! a large generated history (`hummbl demo --executions … --events …`): each
//! path requested one at a time, `--runs` times, reporting p50/p95/p99 of the
//! time to the full response; then, if ChromeDriver is on PATH, the full page
//! load in headless Chromium (Navigation Timing `loadEventEnd`).
//!
//! cargo run --release --example page_bench -- <hummbl URL> <email> <password> <runs> <path>...
//! prints `path p50_ms p95_ms p99_ms` lines, then `chromium <path> p50_ms p95_ms`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 5,
        "usage: page_bench <url> <email> <password> <runs> <path>..."
    );
    let (base, email, password) = (&args[0], &args[1], &args[2]);
    let runs: usize = args[3].parse()?;
    let paths = &args[4..];
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?;
    anyhow::ensure!(
        login.status().is_success(),
        "login failed: {}",
        login.status()
    );
    for path in paths {
        // Warm up the caches once, as a returning user would find them.
        client
            .get(format!("{base}{path}"))
            .send()
            .await?
            .bytes()
            .await?;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let response = client.get(format!("{base}{path}")).send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.bytes().await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p95, p99) = percentiles(&mut times);
        println!("{path} {p50:.2} {p95:.2} {p99:.2}");
    }
    chromium_loads(base, email, password, runs.min(30), paths).await
}

fn percentiles(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95), at(0.99))
}

/// Page loads in headless Chromium, for the pages (paths without `/api/`).
async fn chromium_loads(
    base: &str,
    email: &str,
    password: &str,
    runs: usize,
    paths: &[String],
) -> anyhow::Result<()> {
    let Ok(driver_path) = which("chromedriver") else {
        println!("chromium skipped: chromedriver not found");
        return Ok(());
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut driver = Command::new(driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let profile = tempfile::tempdir()?;
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())]}),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let browser = loop {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(browser) => break browser,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(err) => anyhow::bail!("no browser session: {err}"),
        }
    };
    browser.goto(&format!("{base}/login")).await?;
    let form = browser.form(Locator::Css("form[action='/login']")).await?;
    form.set_by_name("email", email).await?;
    form.set_by_name("password", password).await?;
    form.submit().await?;
    browser
        .wait()
        .for_element(Locator::Css("nav[aria-label=Main]"))
        .await?;
    for path in paths.iter().filter(|path| !path.starts_with("/api/")) {
        let mut loads = Vec::with_capacity(runs);
        for _ in 0..runs {
            browser.goto(&format!("{base}{path}")).await?;
            let load = browser
                .execute(
                    "const [n] = performance.getEntriesByType('navigation'); return n ? n.loadEventEnd : -1;",
                    vec![],
                )
                .await?;
            loads.push(load.as_f64().unwrap_or(-1.0));
        }
        let (p50, p95, _) = percentiles(&mut loads);
        println!("chromium {path} {p50:.1} {p95:.1}");
    }
    let _ = browser.close().await;
    let _ = driver.kill();
    Ok(())
}

fn which(program: &str) -> anyhow::Result<String> {
    let paths = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .map(|path| path.display().to_string())
        .ok_or_else(|| anyhow::anyhow!("{program} not found"))
}
