// HUMMBL browser telemetry SDK (T4 Observation). An ES module with no
// dependencies. Events and metrics are queued, sent in batches, flushed with
// sendBeacon / fetch(keepalive) when the page is hidden, and retried with
// backoff. Nothing here ever throws into the host page.
//
//   import { init, track, pageView, reportPageLoad } from "https://hummbl.example.com/sdk/telemetry.js";
//   init({ endpoint: "https://hummbl.example.com", key: "hmb_ik_…" });
//   pageView("storefront");
//   reportPageLoad("storefront");
//   track({ component: "storefront", action: "checkout_clicked", properties: { cart: 3 } });

const SESSION_KEY = "hummbl.sessionId";
const MAX_BATCH = 50;
const MAX_QUEUE = 1000;
const FLUSH_INTERVAL_MS = 5000;
const MAX_BACKOFF_MS = 60000;

const state = {
  started: false,
  endpoint: "",
  key: null,
  userId: null,
  events: [],
  metrics: [],
  backoffMs: 0,
  retryTimer: null,
  sending: false,
};

function safely(fn) {
  try {
    return fn();
  } catch (error) {
    if (globalThis.console?.debug) console.debug("hummbl telemetry:", error);
    return undefined;
  }
}

/** The tab's session id: random, kept in sessionStorage (one per tab). */
export function sessionId() {
  return safely(() => {
    let id = sessionStorage.getItem(SESSION_KEY);
    if (!id) {
      id = crypto.randomUUID();
      sessionStorage.setItem(SESSION_KEY, id);
    }
    return id;
  }) ?? "no-session-storage";
}

/**
 * Starts the SDK. On HUMMBL's own pages no options are needed (the session
 * cookie identifies the user). Other apps pass their HUMMBL URL and an
 * ingestion key; `userId` is the app's own user id, kept only in memory.
 */
export function init(options = {}) {
  safely(() => {
    state.endpoint = (options.endpoint ?? "").replace(/\/+$/, "");
    state.key = options.key ?? null;
    state.userId = options.userId ?? null;
    if (state.started) return;
    state.started = true;
    addEventListener("pagehide", () => flush({ unloading: true }));
    addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") flush({ unloading: true });
    });
    setInterval(() => flush(), FLUSH_INTERVAL_MS);
  });
}

/** Queues an event: `{component, action, properties?}`. */
export function track(event) {
  safely(() => {
    if (!event || typeof event.component !== "string" || typeof event.action !== "string") return;
    const item = {
      component: event.component,
      action: event.action,
      timestamp: Date.now(),
      sessionId: sessionId(),
    };
    if (event.properties && typeof event.properties === "object") item.properties = event.properties;
    if (state.userId) item.userId = String(state.userId);
    enqueue(state.events, item);
    if (state.events.length >= MAX_BATCH) flush();
  });
}

/** Queues a `page_view` event for a component. */
export function pageView(component, properties = {}) {
  track({
    component,
    action: "page_view",
    properties: { path: location.pathname, title: document.title, ...properties },
  });
}

/** Queues one metric sample: `metric("checkout", "cart_size", 3)`. */
export function metric(component, name, value, metadata) {
  safely(() => {
    if (typeof value !== "number" || !Number.isFinite(value)) return;
    const item = { component, metric_name: name, value, timestamp: Date.now() };
    if (metadata && typeof metadata === "object") item.metadata = metadata;
    enqueue(state.metrics, item);
  });
}

/**
 * Sends the page's load time from the Navigation Timing API as the
 * `page_load_ms` metric of `component`, once the load event has finished.
 */
export function reportPageLoad(component) {
  safely(() => {
    const send = () =>
      safely(() => {
        const [nav] = performance.getEntriesByType("navigation");
        if (!nav || nav.loadEventEnd <= 0) return;
        metric(component, "page_load_ms", Math.round(nav.loadEventEnd), {
          path: location.pathname,
          ttfb_ms: Math.round(nav.responseStart),
          dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
          transfer_bytes: nav.transferSize,
        });
        flush();
      });
    if (document.readyState === "complete") setTimeout(send, 0);
    else addEventListener("load", () => setTimeout(send, 0), { once: true });
  });
}

function enqueue(queue, item) {
  queue.push(item);
  if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);
}

function url(path) {
  const base = `${state.endpoint}${path}`;
  return state.key ? `${base}?key=${encodeURIComponent(state.key)}` : base;
}

/** Sends what is queued. While unloading, uses sendBeacon (or keepalive fetch). */
export async function flush({ unloading = false } = {}) {
  if (state.sending && !unloading) return;
  if (state.retryTimer && !unloading) return;
  const events = state.events.splice(0, MAX_BATCH);
  const metrics = state.metrics.splice(0, MAX_BATCH);
  if (!events.length && !metrics.length) return;
  state.sending = true;
  try {
    const sent = await Promise.all([
      events.length ? send("/api/telemetry/track", { events }, unloading) : true,
      metrics.length ? send("/api/telemetry/metrics", { metrics }, unloading) : true,
    ]);
    if (!sent[0]) state.events.unshift(...events);
    if (!sent[1]) state.metrics.unshift(...metrics);
    if (sent.every(Boolean)) {
      state.backoffMs = 0;
      if (state.events.length || state.metrics.length) queueMicrotask(() => flush());
    } else {
      scheduleRetry();
    }
  } catch (error) {
    safely(() => { throw error; });
  } finally {
    state.sending = false;
  }
}

/** True when the batch is done with (stored, or refused for good). */
async function send(path, payload, unloading) {
  const body = JSON.stringify(payload);
  if (unloading && navigator.sendBeacon) {
    const queued = safely(() => navigator.sendBeacon(url(path), new Blob([body], { type: "text/plain" })));
    if (queued) return true;
  }
  try {
    const response = await fetch(url(path), {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body,
      keepalive: body.length < 60000,
      credentials: state.key ? "omit" : "same-origin",
    });
    if (response.ok) return true;
    // 4xx other than 408/429 will not get better by retrying: drop the batch.
    return response.status < 500 && response.status !== 408 && response.status !== 429;
  } catch {
    return false;
  }
}

function scheduleRetry() {
  state.backoffMs = Math.min(MAX_BACKOFF_MS, state.backoffMs ? state.backoffMs * 2 : 1000);
  const delay = state.backoffMs * (0.5 + Math.random() / 2);
  state.retryTimer = setTimeout(() => {
    state.retryTimer = null;
    flush();
  }, delay);
}
