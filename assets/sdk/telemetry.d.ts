// Types for the HUMMBL browser telemetry SDK served at /sdk/telemetry.js.

export interface InitOptions {
  /** HUMMBL's base URL, e.g. "https://hummbl.example.com". Empty on HUMMBL's own pages. */
  endpoint?: string;
  /** An ingestion key (hmb_ik_…) for apps other than HUMMBL itself. */
  key?: string;
  /** The sending app's own user id; sent as an attribute, kept only in memory. */
  userId?: string | number;
}

export interface TelemetryEvent {
  /** Component id: 1–64 of a-z, 0-9, '-', '_', '.'. Unknown ids register themselves. */
  component: string;
  /** Action name, same rules as component ids, e.g. "page_view". */
  action: string;
  /** A JSON object, at most 8 KiB serialized by default. */
  properties?: Record<string, unknown>;
}

export function init(options?: InitOptions): void;
export function track(event: TelemetryEvent): void;
export function pageView(component: string, properties?: Record<string, unknown>): void;
export function metric(component: string, name: string, value: number, metadata?: Record<string, unknown>): void;
export function reportPageLoad(component: string): void;
export function flush(options?: { unloading?: boolean }): Promise<void>;
export function sessionId(): string;
