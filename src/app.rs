//! Application assembly: the shared state, the router with its middleware, and
//! the server future. `serve` takes an already bound listener so tests can run
//! the real server on port 0; `main` only parses arguments and calls it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::middleware;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::ratelimit::LoginLimiter;
use crate::bus::Bus;
use crate::config::Config;
use crate::ops::metrics::Metrics;
use crate::storage::Db;
use crate::telemetry::ingest::Ingestor;
use crate::telemetry::keys::KeyCache;
use crate::telemetry::requests::RequestStats;
use crate::telemetry::validate::Limits;
use crate::web::headers::SecurityHeaders;

/// Everything a handler or worker may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub login_limiter: Arc<LoginLimiter>,
    pub metrics: Arc<Metrics>,
    /// The live bus of domain events.
    pub bus: Arc<Bus>,
    /// The batching telemetry writer.
    pub ingestor: Ingestor,
    pub key_cache: Arc<KeyCache>,
    /// Sessions resolved in the last moment (`session_cache_ms`).
    pub session_cache: Arc<crate::auth::session_cache::SessionCache>,
    pub request_stats: Arc<RequestStats>,
    /// Seals and opens provider keys.
    pub vault: Arc<crate::vault::Vault>,
    /// The HTTP client for LLM providers.
    pub providers: crate::providers::Providers,
    /// The execution runner's handle (its loop runs among the workers).
    pub runner: Arc<crate::executions::runner::Runner>,
    /// The scheduler's wake-up and its timer for the next run.
    pub scheduler: Arc<crate::schedules::Scheduler>,
    /// The `otlp` worker's wake-up (spans were queued).
    pub otlp: Arc<crate::otlp::Folder>,
    /// Sends ended executions to the OTLP collector (off without `otlp_endpoint`).
    pub exporter: Arc<crate::otlp::export::Exporter>,
    /// Mail: the SMTP transport (none when mail is off) and the outbox worker's wake-up.
    pub mailer: Arc<crate::mail::Mailer>,
    /// The open live streams (capped; closed when their access ends).
    pub streams: Arc<crate::bus::streams::OpenStreams>,
    /// Cancelled when the process shuts down; long-lived streams and workers end.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Builds the state and starts the telemetry writer (needs a Tokio runtime).
    pub fn new(
        db: Db,
        config: Config,
        vault: crate::vault::Vault,
        shutdown: CancellationToken,
    ) -> anyhow::Result<AppState> {
        let bus = Arc::new(Bus::new());
        let metrics = Arc::new(Metrics::new());
        let exporter = match &config.otlp_export {
            Some(target) => {
                let (exported, dropped) = metrics.otlp_export_counters();
                crate::otlp::export::Exporter::start(db.clone(), target.clone(), exported, dropped)
            }
            None => crate::otlp::export::Exporter::off(),
        };
        Ok(AppState {
            exporter: Arc::new(exporter),
            vault: Arc::new(vault),
            providers: crate::providers::Providers::new(
                config.provider_timeout,
                config.provider_allowed_hosts.clone(),
            )?,
            runner: Arc::new(crate::executions::runner::Runner::new(config.runner)),
            mailer: Arc::new(crate::mail::Mailer::from_config(&config)?),
            scheduler: Arc::new(crate::schedules::Scheduler::default()),
            otlp: Arc::new(crate::otlp::Folder::default()),
            login_limiter: Arc::new(LoginLimiter::new(config.login_attempts_per_minute)),
            metrics,
            ingestor: Ingestor::start(db.clone(), bus.clone(), config.telemetry.queue_rows),
            bus,
            key_cache: Arc::new(KeyCache::default()),
            session_cache: Arc::new(crate::auth::session_cache::SessionCache::new(
                config.session_cache,
            )),
            streams: Arc::new(crate::bus::streams::OpenStreams::new(config.streams)),
            request_stats: Arc::new(RequestStats::default()),
            config: Arc::new(config),
            db,
            shutdown,
        })
    }

    pub fn telemetry_limits(&self) -> Limits {
        Limits {
            max_batch: self.config.telemetry.max_batch,
            max_properties_bytes: self.config.telemetry.max_properties_bytes,
        }
    }

    /// What executions are started, cancelled and retried with.
    pub fn engine(&self) -> crate::executions::Engine<'_> {
        crate::executions::Engine {
            db: &self.db,
            bus: &self.bus,
            runner: &self.runner,
            vault: &self.vault,
            providers: &self.providers,
            exporter: &self.exporter,
            shutdown: &self.shutdown,
        }
    }

    /// What the execution runner works with.
    pub fn runner_context(&self) -> crate::executions::runner::Context {
        self.engine().runner_context()
    }

    /// Takes a place for a live stream of `principal` (429 at the limits); a
    /// session's stream ends at the session's absolute end at the latest.
    pub async fn open_stream(
        &self,
        principal: &crate::auth::Principal,
    ) -> Result<crate::bus::streams::StreamPermit, crate::error::AppError> {
        let ends_at = match principal.session_id() {
            Some(digest) => {
                crate::auth::session::hard_end(&self.db, digest, self.session_lifetime()).await?
            }
            None => None,
        };
        self.streams.open(principal, &self.shutdown, ends_at)
    }

    /// Closes the live streams that `ended` covers, on every replica; call it
    /// once the change that ended the access has committed.
    pub fn access_ended(&self, ended: crate::bus::streams::AccessEnded) {
        // Here at once; other replicas when the event reaches them.
        self.session_cache.forget(&ended);
        crate::bus::streams::publish_ended(&self.bus, ended);
    }

    /// How long sessions last (idle and absolute).
    pub fn session_lifetime(&self) -> crate::auth::session::Lifetime {
        let ms = |duration: Duration| i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        crate::auth::session::Lifetime {
            idle_ms: ms(self.config.session_ttl),
            absolute_ms: ms(self.config.session_max_age),
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Largest request body accepted anywhere (telemetry batches sit well below).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for route in routes() {
        let (path, handler) = crate::guard::mount(route, &state);
        router = router.route(path, handler);
    }
    router
        .fallback(crate::web::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ))
        .layer(middleware::from_fn(crate::auth::csrf::refuse_cross_site))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ops::metrics::record,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(crate::ops::request_span))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(crate::web::panic_response))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Duration::from_secs(30),
                ))
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)),
        )
        // Outermost, so answers made by the layers above carry the headers too.
        .layer(middleware::map_response_with_state(
            SecurityHeaders::new(&state.config),
            crate::web::headers::add,
        ))
        .with_state(state)
}

/// Every route of the application: each feature contributes its own list.
pub fn routes() -> Vec<crate::routes::Route> {
    let mut routes = Vec::new();
    routes.extend(crate::ops::routes());
    routes.extend(crate::web::routes());
    routes.extend(crate::auth::handlers::routes());
    routes.extend(crate::accounts::handlers::routes());
    routes.extend(crate::teams::handlers::routes());
    routes.extend(crate::invitations::handlers::routes());
    routes.extend(crate::components::handlers::routes());
    routes.extend(crate::telemetry::routes());
    routes.extend(crate::otlp::routes());
    routes.extend(crate::provider_keys::routes());
    routes.extend(crate::agents::routes());
    routes.extend(crate::workflows::routes());
    routes.extend(crate::schedules::handlers::routes());
    routes.extend(crate::notifications::handlers::routes());
    routes.extend(crate::alerts::handlers::routes());
    routes.extend(crate::pilot::handlers::routes());
    routes.extend(crate::executions::routes());
    routes.extend(crate::prices::handlers::routes());
    routes.extend(crate::analytics::routes());
    routes.extend(crate::errors::routes());
    routes
}

/// Opens storage under a shared `presence` claim (held by the returned
/// handle), migrates and registers the built-in components.
pub async fn prepare(config: &Config) -> anyhow::Result<Db> {
    let mut db = Db::open(config.database_url(), &config.data_dir).await?;
    // Before anything is written: a copy or restore in progress refuses this
    // start, and neither can begin while the database is in use.
    let claim = crate::storage::presence::serving(&db).await?;
    db.hold(claim);
    db.migrate().await?;
    crate::components::register_built_ins(&db).await?;
    Ok(db)
}

/// Serves until `shutdown` is cancelled, then lets in-flight requests finish.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    let shutdown = state.shutdown.clone();
    let workers = crate::workers::spawn(&state);
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    state.shutdown.cancel();
    workers.join().await;
    state.runner.hand_back().await;
    crate::workers::flush_request_stats(&state, true).await;
    state.db.close().await;
    Ok(())
}
