//! Configuration, layered: built-in defaults, then an optional TOML file
//! (`--config` / `HUMMBL_CONFIG`), then environment variables, then flags.
//! Everything is checked before the port is bound; secrets never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::providers::egress::AllowedHosts;

mod args;
mod sections;

pub use args::*;
pub use sections::{TelemetryConfig, WorkerPeriods};

/// A shorter metrics token would be guessable.
const MIN_METRICS_TOKEN_LEN: usize = 16;

/// Keys accepted in the TOML file; unknown keys are an error, not a silent no-op.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    addr: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    master_key: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    invitation_days: Option<u64>,
    notification_retention_days: Option<u32>,
    metrics_token: Option<String>,
    log_format: Option<String>,
    session_ttl_hours: Option<u64>,
    session_max_age_days: Option<u64>,
    session_cache_ms: Option<u64>,
    login_attempts_per_minute: Option<u32>,
    telemetry_max_batch: Option<usize>,
    telemetry_max_properties_bytes: Option<usize>,
    telemetry_queue_rows: Option<usize>,
    retention_days: Option<u32>,
    retention_interval_secs: Option<u64>,
    runner_concurrency: Option<usize>,
    execution_lease_secs: Option<u64>,
    provider_timeout_secs: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    max_streams: Option<usize>,
    max_streams_per_user: Option<usize>,
    provider_allowed_hosts: Option<Vec<String>>,
    otlp_endpoint: Option<String>,
    otlp_headers: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<SecretString>,
    pub public_url: Option<url::Url>,
    /// 32-byte master key for the provider-key vault (base64), if given.
    pub master_key: Option<SecretString>,
    /// The SMTP server mail goes through (lettre's URL form); none: mail is off.
    pub smtp_url: Option<SecretString>,
    /// The sender of every message ("HUMMBL <hummbl@example.com>").
    pub mail_from: String,
    /// How long an invitation's link works.
    pub invitation_lifetime: Duration,
    /// Read notifications older than this are deleted (unread ones stay until read).
    pub notification_retention_days: u32,
    /// When set, `GET /metrics` wants `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    pub demo: bool,
    pub log_format: LogFormat,
    /// A session ends this long after its last use...
    pub session_ttl: Duration,
    /// ...and this long after sign-in at the latest.
    pub session_max_age: Duration,
    /// How long a resolved session is reused before its row is read again.
    pub session_cache: Duration,
    pub login_attempts_per_minute: u32,
    pub telemetry: TelemetryConfig,
    pub runner: crate::executions::runner::RunnerConfig,
    /// How long one provider HTTP request may take.
    pub provider_timeout: Duration,
    /// Internal hosts provider calls may reach (a local Ollama); see
    /// `providers::egress` for what is never reached.
    pub provider_allowed_hosts: AllowedHosts,
    /// How often each background worker ticks.
    pub workers: WorkerPeriods,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see `auth::client`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How many live streams may be open, per user and in total.
    pub streams: crate::bus::streams::StreamLimits,
    /// Where HUMMBL's own executions are exported as OTLP traces; none: off.
    pub otlp_export: Option<crate::otlp::export::ExportTarget>,
}

impl Config {
    /// A configuration for tests and embedding: SQLite in `data_dir`, port 0.
    pub fn for_data_dir(data_dir: &Path) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_path_buf(),
            database_url: None,
            public_url: None,
            master_key: None,
            smtp_url: None,
            mail_from: DEFAULT_MAIL_FROM.into(),
            invitation_lifetime: Duration::from_secs(DEFAULT_INVITATION_DAYS * 86_400),
            notification_retention_days: DEFAULT_NOTIFICATION_RETENTION_DAYS,
            metrics_token: None,
            demo: false,
            log_format: LogFormat::Pretty,
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            session_max_age: Duration::from_secs(DEFAULT_SESSION_MAX_AGE_DAYS * 86_400),
            session_cache: Duration::from_secs(1),
            login_attempts_per_minute: 10,
            telemetry: TelemetryConfig::default(),
            runner: Default::default(),
            provider_timeout: Duration::from_secs(DEFAULT_PROVIDER_TIMEOUT_SECS),
            provider_allowed_hosts: AllowedHosts::default(),
            workers: WorkerPeriods::default(),
            trusted_proxies: Vec::new(),
            streams: Default::default(),
            otlp_export: None,
        }
    }

    /// Whether cookies must carry `Secure` (HUMMBL is reached over HTTPS).
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_ref()
            .is_some_and(|url| url.scheme() == "https")
    }

    /// The start of links in mail: `public_url`, else this server's address.
    pub fn link_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None if self.addr.ip().is_unspecified() => {
                format!("http://localhost:{}", self.addr.port())
            }
            None => format!("http://{}", self.addr),
        }
    }

    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_ref().map(|url| url.expose_secret())
    }

    /// Layers defaults, file, environment and flags (clap merged the last two).
    pub fn load(common: &CommonArgs, serve: &ServeArgs) -> anyhow::Result<Config> {
        let file = read_file(common)?;
        let (master_key, smtp_url, metrics_token) = secrets(&file)?;
        let (session_ttl, session_max_age, login_attempts_per_minute) = sessions(&file)?;
        Ok(Config {
            addr: addr(serve, &file)?,
            data_dir: common
                .data_dir
                .clone()
                .or(file.data_dir.clone())
                .unwrap_or_else(|| PathBuf::from("./data")),
            database_url: database_url(common, &file)?.map(SecretString::from),
            public_url: public_url(serve, &file)?,
            master_key,
            smtp_url,
            mail_from: mail_from(&file)?,
            invitation_lifetime: invitation_lifetime(&file)?,
            notification_retention_days: notification_retention_days(&file)?,
            metrics_token,
            demo: serve.demo,
            log_format: log_format(serve, &file)?,
            session_ttl,
            session_max_age,
            session_cache: session_cache(&file)?,
            login_attempts_per_minute,
            telemetry: telemetry(&file)?,
            runner: runner(&file)?,
            provider_timeout: provider_timeout(&file)?,
            provider_allowed_hosts: provider_allowed_hosts(
                env("HUMMBL_PROVIDER_ALLOWED_HOSTS").as_deref(),
                &file,
            )?,
            workers: workers(&file)?,
            trusted_proxies: trusted_proxies(&file)?,
            streams: stream_limits(&file)?,
            otlp_export: otlp_export(&file)?,
        })
    }
}

/// `HUMMBL_OTLP_ENDPOINT` / `otlp_endpoint` and `HUMMBL_OTLP_HEADERS` / `otlp_headers`.
fn otlp_export(file: &FileConfig) -> anyhow::Result<Option<crate::otlp::export::ExportTarget>> {
    let Some(endpoint) = env("HUMMBL_OTLP_ENDPOINT").or(file.otlp_endpoint.clone()) else {
        return Ok(None);
    };
    let headers = env("HUMMBL_OTLP_HEADERS").or(file.otlp_headers.clone());
    crate::otlp::export::ExportTarget::parse(&endpoint, headers.as_deref()).map(Some)
}

fn read_file(common: &CommonArgs) -> anyhow::Result<FileConfig> {
    let Some(path) = &common.config else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str::<FileConfig>(&text)
        .with_context(|| format!("invalid config file {}", path.display()))
}

/// An environment variable, unless unset or empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn addr(serve: &ServeArgs, file: &FileConfig) -> anyhow::Result<SocketAddr> {
    let text = serve
        .addr
        .clone()
        .or(file.addr.clone())
        .unwrap_or_else(|| "127.0.0.1:8787".to_string());
    text.parse()
        .with_context(|| format!("addr {text:?} is not an IP:port address"))
}

fn database_url(common: &CommonArgs, file: &FileConfig) -> anyhow::Result<Option<String>> {
    let url = common.database_url.clone().or(file.database_url.clone());
    if let Some(url) = &url {
        let known = ["postgres://", "postgresql://", "sqlite://", "sqlite:"];
        if !known.iter().any(|prefix| url.starts_with(prefix)) {
            bail!("database URL must start with postgres://, postgresql:// or sqlite://");
        }
    }
    Ok(url)
}

fn public_url(serve: &ServeArgs, file: &FileConfig) -> anyhow::Result<Option<url::Url>> {
    let Some(text) = serve.public_url.clone().or(file.public_url.clone()) else {
        return Ok(None);
    };
    let url = url::Url::parse(&text)
        .with_context(|| format!("public URL {text:?} is not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("public URL must start with http:// or https://");
    }
    Ok(Some(url))
}

type Secret = Option<SecretString>;

/// The master key, SMTP URL and metrics token: environment first, then file.
fn secrets(file: &FileConfig) -> anyhow::Result<(Secret, Secret, Secret)> {
    let master_key = env("HUMMBL_MASTER_KEY").or(file.master_key.clone());
    if let Some(key) = &master_key {
        crate::vault::MasterKey::parse(key).context("HUMMBL_MASTER_KEY (master_key) is invalid")?;
    }
    let smtp_url = env("HUMMBL_SMTP_URL").or(file.smtp_url.clone());
    let metrics_token = env("HUMMBL_METRICS_TOKEN").or(file.metrics_token.clone());
    if metrics_token
        .as_ref()
        .is_some_and(|token| token.trim().len() < MIN_METRICS_TOKEN_LEN)
    {
        bail!(
            "HUMMBL_METRICS_TOKEN (metrics_token) must be at least {MIN_METRICS_TOKEN_LEN} characters"
        );
    }
    Ok((
        master_key.map(SecretString::from),
        smtp_url.map(SecretString::from),
        metrics_token.map(|token| SecretString::from(token.trim().to_string())),
    ))
}

fn log_format(serve: &ServeArgs, file: &FileConfig) -> anyhow::Result<LogFormat> {
    Ok(
        match serve
            .log_format
            .clone()
            .or(file.log_format.clone())
            .as_deref()
        {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("log format {other:?} is not one of: pretty, json"),
        },
    )
}

const DEFAULT_SESSION_MAX_AGE_DAYS: u64 = 30;

/// `session_cache_ms`: 0 (off) to 60,000; 1,000 by default.
fn session_cache(file: &FileConfig) -> anyhow::Result<Duration> {
    let ms = file.session_cache_ms.unwrap_or(1000);
    if ms > 60_000 {
        bail!("session_cache_ms must be between 0 and 60000");
    }
    Ok(Duration::from_millis(ms))
}

/// The session lifetimes (idle, absolute) and the login attempts allowed per
/// account and minute.
fn sessions(file: &FileConfig) -> anyhow::Result<(Duration, Duration, u32)> {
    let ttl_hours = file.session_ttl_hours.unwrap_or(7 * 24);
    if !(1..=24 * 365).contains(&ttl_hours) {
        bail!("session_ttl_hours must be between 1 and 8760");
    }
    let max_age_days = file
        .session_max_age_days
        .unwrap_or(DEFAULT_SESSION_MAX_AGE_DAYS);
    if !(1..=365).contains(&max_age_days) {
        bail!("session_max_age_days must be between 1 and 365");
    }
    let attempts = file.login_attempts_per_minute.unwrap_or(10);
    if attempts == 0 {
        bail!("login_attempts_per_minute must be at least 1");
    }
    Ok((
        Duration::from_secs(ttl_hours * 3600),
        Duration::from_secs(max_age_days * 86_400),
        attempts,
    ))
}

fn telemetry(file: &FileConfig) -> anyhow::Result<TelemetryConfig> {
    let defaults = TelemetryConfig::default();
    let telemetry = TelemetryConfig {
        max_batch: file.telemetry_max_batch.unwrap_or(defaults.max_batch),
        max_properties_bytes: file
            .telemetry_max_properties_bytes
            .unwrap_or(defaults.max_properties_bytes),
        queue_rows: file.telemetry_queue_rows.unwrap_or(defaults.queue_rows),
        retention_days: file.retention_days.unwrap_or(defaults.retention_days),
    };
    if !(1..=10_000).contains(&telemetry.max_batch) {
        bail!("telemetry_max_batch must be between 1 and 10000");
    }
    if !(64..=262_144).contains(&telemetry.max_properties_bytes) {
        bail!("telemetry_max_properties_bytes must be between 64 and 262144");
    }
    if telemetry.queue_rows < telemetry.max_batch {
        bail!("telemetry_queue_rows must be at least telemetry_max_batch");
    }
    if telemetry.retention_days == 0 {
        bail!("retention_days must be at least 1");
    }
    Ok(telemetry)
}

fn runner(file: &FileConfig) -> anyhow::Result<crate::executions::runner::RunnerConfig> {
    let mut runner = crate::executions::runner::RunnerConfig::default();
    if let Some(concurrency) = file.runner_concurrency {
        if !(1..=1000).contains(&concurrency) {
            bail!("runner_concurrency must be between 1 and 1000");
        }
        runner.concurrency = concurrency;
    }
    if let Some(secs) = file.execution_lease_secs {
        if !(1..=600).contains(&secs) {
            bail!("execution_lease_secs must be between 1 and 600");
        }
        runner.lease = Duration::from_secs(secs);
    }
    Ok(runner)
}

fn workers(file: &FileConfig) -> anyhow::Result<WorkerPeriods> {
    let mut workers = WorkerPeriods::default();
    if let Some(secs) = file.retention_interval_secs {
        if !(60..=7 * 86_400).contains(&secs) {
            bail!("retention_interval_secs must be between 60 and 604800");
        }
        workers.retention = Duration::from_secs(secs);
    }
    Ok(workers)
}

const DEFAULT_MAIL_FROM: &str = "HUMMBL <hummbl@localhost>";
const DEFAULT_INVITATION_DAYS: u64 = 7;

const DEFAULT_NOTIFICATION_RETENTION_DAYS: u32 = 180;

fn notification_retention_days(file: &FileConfig) -> anyhow::Result<u32> {
    let days = file
        .notification_retention_days
        .unwrap_or(DEFAULT_NOTIFICATION_RETENTION_DAYS);
    if !(1..=3650).contains(&days) {
        bail!("notification_retention_days must be between 1 and 3650");
    }
    Ok(days)
}

/// `HUMMBL_MAIL_FROM` or the file's `mail_from`: an address, with a name or not.
fn mail_from(file: &FileConfig) -> anyhow::Result<String> {
    let from = env("HUMMBL_MAIL_FROM")
        .or(file.mail_from.clone())
        .unwrap_or_else(|| DEFAULT_MAIL_FROM.into());
    from.parse::<lettre::message::Mailbox>().with_context(|| {
        format!("HUMMBL_MAIL_FROM (mail_from) {from:?} is not an e-mail address")
    })?;
    Ok(from)
}

fn invitation_lifetime(file: &FileConfig) -> anyhow::Result<Duration> {
    let days = file.invitation_days.unwrap_or(DEFAULT_INVITATION_DAYS);
    if !(1..=30).contains(&days) {
        bail!("invitation_days must be between 1 and 30");
    }
    Ok(Duration::from_secs(days * 86_400))
}

fn stream_limits(file: &FileConfig) -> anyhow::Result<crate::bus::streams::StreamLimits> {
    let defaults = crate::bus::streams::StreamLimits::default();
    let limits = crate::bus::streams::StreamLimits {
        per_user: file.max_streams_per_user.unwrap_or(defaults.per_user),
        total: file.max_streams.unwrap_or(defaults.total),
    };
    if !(1..=100_000).contains(&limits.total) {
        bail!("max_streams must be between 1 and 100000");
    }
    if !(1..=limits.total).contains(&limits.per_user) {
        bail!("max_streams_per_user must be between 1 and max_streams");
    }
    Ok(limits)
}

/// `HUMMBL_TRUSTED_PROXIES` (comma-separated) or the file's `trusted_proxies`:
/// addresses or CIDR networks.
fn trusted_proxies(file: &FileConfig) -> anyhow::Result<Vec<ipnet::IpNet>> {
    let entries = match env("HUMMBL_TRUSTED_PROXIES") {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => file.trusted_proxies.clone().unwrap_or_default(),
    };
    entries
        .iter()
        .map(|entry| entry.trim())
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            ip_network(entry).with_context(|| {
                format!("trusted_proxies: {entry:?} is not an IP address or CIDR network")
            })
        })
        .collect()
}

/// An IP network (`10.0.0.0/8`), or one address as a network of one.
pub fn ip_network(text: &str) -> anyhow::Result<ipnet::IpNet> {
    if let Ok(net) = text.parse::<ipnet::IpNet>() {
        return Ok(net.trunc());
    }
    let ip: std::net::IpAddr = text.parse()?;
    Ok(ipnet::IpNet::from(ip))
}

fn provider_timeout(file: &FileConfig) -> anyhow::Result<Duration> {
    let secs = file
        .provider_timeout_secs
        .unwrap_or(DEFAULT_PROVIDER_TIMEOUT_SECS);
    if !(1..=3600).contains(&secs) {
        bail!("provider_timeout_secs must be between 1 and 3600");
    }
    Ok(Duration::from_secs(secs))
}

const DEFAULT_PROVIDER_TIMEOUT_SECS: u64 = 120;

/// The environment's comma-separated list, else the file's array. The
/// environment is passed in so tests need not change the process's.
fn provider_allowed_hosts(
    env_list: Option<&str>,
    file: &FileConfig,
) -> anyhow::Result<AllowedHosts> {
    let allowed = match (env_list, &file.provider_allowed_hosts) {
        (Some(list), _) => AllowedHosts::parse_comma_list(list)
            .context("HUMMBL_PROVIDER_ALLOWED_HOSTS is invalid")?,
        (None, Some(entries)) => AllowedHosts::parse(entries)?,
        (None, None) => AllowedHosts::default(),
    };
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_addresses_or_cidrs() {
        let net = |text: &str| ip_network(text).map(|net| net.to_string()).ok();
        assert_eq!(net("10.1.2.3/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(net("192.0.2.1").as_deref(), Some("192.0.2.1/32"));
        assert_eq!(net("::1").as_deref(), Some("::1/128"));
        assert_eq!(net("2001:db8::/32").as_deref(), Some("2001:db8::/32"));
        assert_eq!(net("10.0.0.0/33"), None);
        assert_eq!(net("proxy.internal"), None);
    }

    #[test]
    fn trusted_proxies_come_from_the_file() {
        let file = FileConfig {
            trusted_proxies: Some(vec!["10.0.0.0/8".into(), " 127.0.0.1 ".into()]),
            ..FileConfig::default()
        };
        let proxies = trusted_proxies(&file).expect("valid");
        assert_eq!(proxies.len(), 2);
        let bad = FileConfig {
            trusted_proxies: Some(vec!["everyone".into()]),
            ..FileConfig::default()
        };
        let err = trusted_proxies(&bad).expect_err("refused");
        assert!(err.to_string().contains("\"everyone\""), "{err}");
    }

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).expect("a valid config file")
    }

    #[test]
    fn allowed_hosts_come_from_the_file() {
        let config =
            file(r#"provider_allowed_hosts = ["localhost", "127.0.0.1", "10.0.0.0/8", "::1"]"#);
        let allowed = provider_allowed_hosts(None, &config).expect("valid");
        assert_eq!(
            allowed.to_string(),
            "localhost,127.0.0.1/32,10.0.0.0/8,::1/128"
        );
        assert!(
            provider_allowed_hosts(None, &file(""))
                .expect("none")
                .is_empty()
        );
    }

    #[test]
    fn a_bad_allowed_host_stops_start_up_naming_it() {
        let config = file(r#"provider_allowed_hosts = ["10.0.0.0/33"]"#);
        let error = provider_allowed_hosts(None, &config).expect_err("bad CIDR");
        assert!(
            format!("{error:#}").contains("\"10.0.0.0/33\""),
            "{error:#}"
        );
        let error =
            provider_allowed_hosts(Some("localhost,http://x"), &file("")).expect_err("a URL");
        let message = format!("{error:#}");
        assert!(
            message.contains("HUMMBL_PROVIDER_ALLOWED_HOSTS") && message.contains("http://x"),
            "{message}"
        );
        assert!(
            toml::from_str::<FileConfig>(r#"provider_allowed_hosts = "localhost""#).is_err(),
            "an array"
        );
    }

    #[test]
    fn the_environment_list_replaces_the_files() {
        let config = file(r#"provider_allowed_hosts = ["10.0.0.0/8"]"#);
        let allowed =
            provider_allowed_hosts(Some("localhost, 127.0.0.1,"), &config).expect("valid");
        assert_eq!(allowed.to_string(), "localhost,127.0.0.1/32");
    }
}
