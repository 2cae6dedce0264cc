//! `POST /v1/traces`: OTLP/HTTP trace export, in protobuf or JSON, gzip or not.
//!
//! Answers as the OTLP specification asks: 200 with an
//! `ExportTraceServiceResponse` in the request's encoding (with
//! `partialSuccess` counting and naming refused spans), or a `google.rpc.Status`
//! with 400 (undecodable body; not retried by exporters), 413 (too large), 415
//! (neither encoding) or 503 with `Retry-After` (the queue is full; exporters
//! retry). Spans are acknowledged only once the telemetry writer committed them.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::mapping;
use crate::app::AppState;
use crate::routes::Route;
use crate::storage::new_id;
use crate::telemetry::Sender;
use crate::telemetry::ingest::{IngestError, Rows, SpanRow};

/// Largest body once decompressed.
pub const MAX_DECODED_BYTES: u64 = 8 * 1024 * 1024;
/// Most spans in one request.
pub const MAX_SPANS: usize = 10_000;

pub fn routes() -> Vec<Route> {
    vec![
        Route::raw(Method::POST, "/v1/traces", export)
            .ingest()
            .reports_as(crate::telemetry::COMPONENT),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// `google.rpc.Status`, the body of every refusal (its `details` are not used).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// A refusal: the HTTP status, the gRPC code it corresponds to, and why.
struct Refused {
    status: StatusCode,
    message: String,
    retry_after_secs: Option<u64>,
}

impl Refused {
    fn new(status: StatusCode, message: impl Into<String>) -> Refused {
        Refused {
            status,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    fn into_response(self, encoding: Encoding) -> Response {
        // INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE (google.rpc.Code).
        let code = match self.status {
            StatusCode::SERVICE_UNAVAILABLE => 14,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => 8,
            _ => 3,
        };
        let body = match encoding {
            Encoding::Protobuf => RpcStatus {
                code,
                message: self.message,
            }
            .encode_to_vec(),
            Encoding::Json => serde_json::json!({ "code": code, "message": self.message })
                .to_string()
                .into_bytes(),
        };
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(encoding.content_type()),
        );
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// An OTLP/JSON `ExportTraceServiceRequest`, as this document describes it:
/// the top level only; each element follows the OTLP protobuf definition
/// (`opentelemetry/proto/trace/v1/trace.proto`) in its JSON mapping.
#[derive(Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct OtlpTraces {
    #[schema(value_type = Vec<Object>)]
    resource_spans: Vec<opentelemetry_proto::tonic::trace::v1::ResourceSpans>,
}

/// `ExportTraceServiceResponse` in OTLP/JSON.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OtlpExported {
    #[schema(rename = "partialSuccess")]
    partial_success: Option<OtlpPartialSuccess>,
}

/// How many spans were refused, and the first reason.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OtlpPartialSuccess {
    #[schema(rename = "rejectedSpans", minimum = 1)]
    rejected_spans: i64,
    #[schema(rename = "errorMessage")]
    error_message: String,
}

/// `google.rpc.Status` in OTLP/JSON: every refusal of `/v1/traces` but 401/403.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OtlpStatus {
    /// The gRPC code: 3 invalid argument, 8 resource exhausted, 14 unavailable.
    code: i32,
    message: String,
}

/// Receive spans (OTLP/HTTP). Authenticate with an ingestion key as a bearer
/// token (`OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer hmb_ik_…"`).
#[utoipa::path(post, path = "/v1/traces", tag = "otlp",
    request_body(description = "An OTLP `ExportTraceServiceRequest`, as `application/x-protobuf` or \
        `application/json`, optionally `Content-Encoding: gzip`; at most 10,000 spans and 8 MiB decompressed",
        content((Vec<u8> = "application/x-protobuf"), (OtlpTraces = "application/json"))),
    responses(
        (status = 200, description = "`ExportTraceServiceResponse` in the request's encoding; `partialSuccess` \
            counts refused spans and names the first reason",
            content((OtlpExported = "application/json"), (Vec<u8> = "application/x-protobuf"))),
        (status = 400, description = "The body is not an OTLP trace export",
            content((OtlpStatus = "application/json"), (Vec<u8> = "application/x-protobuf"))),
        (status = 413, description = "Over 10,000 spans, or over 8 MiB once decompressed (over 1 MiB as sent is \
            refused in plain text before it is read)",
            content((OtlpStatus = "application/json"), (Vec<u8> = "application/x-protobuf"))),
        (status = 415, description = "Neither OTLP encoding, or a Content-Encoding other than gzip",
            content((OtlpStatus = "application/json"))),
        (status = 503, description = "The queue is full; retry after `Retry-After` seconds",
            content((OtlpStatus = "application/json"), (Vec<u8> = "application/x-protobuf")))))]
pub async fn export(
    State(state): State<AppState>,
    sender: Sender,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let encoding = match encoding(&headers) {
        Ok(encoding) => encoding,
        Err(refused) => return refused.into_response(Encoding::Json),
    };
    match receive(&state, &sender, &headers, &body, encoding).await {
        Ok(response) => response,
        Err(refused) => refused.into_response(encoding),
    }
}

async fn receive(
    state: &AppState,
    sender: &Sender,
    headers: &HeaderMap,
    body: &[u8],
    encoding: Encoding,
) -> Result<Response, Refused> {
    let body = decompress(headers, body)?;
    let request = decode(&body, encoding)?;
    let team_id = sender.team_id();
    let mut rows = Rows::default();
    let mut rejected = 0i64;
    let mut first_reason: Option<String> = None;
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map(|resource| resource.attributes.as_slice());
        let service = mapping::service_name(resource.unwrap_or_default());
        for span in resource_spans
            .scope_spans
            .iter()
            .flat_map(|scope| &scope.spans)
        {
            if rows.spans.len() + rejected as usize >= MAX_SPANS {
                return Err(Refused::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("at most {MAX_SPANS} spans per request; send smaller batches"),
                ));
            }
            match mapping::keep(&service, span) {
                Ok(span) => rows.spans.push(SpanRow {
                    id: new_id(),
                    team_id: team_id.to_string(),
                    span,
                }),
                Err(reason) => {
                    rejected += 1;
                    first_reason.get_or_insert(reason);
                }
            }
        }
    }
    if !state.otlp.has_room(rows.spans.len()) {
        let mut refused = Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "spans are arriving faster than they are folded into executions; retry shortly",
        );
        refused.retry_after_secs = Some(5);
        return Err(refused);
    }
    let queued = rows.spans.len();
    state.ingestor.write(rows).await.map_err(|err| {
        let mut refused = Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            match err {
                IngestError::Busy => "the ingestion queue is full",
                IngestError::Failed => "the spans could not be stored; nothing was kept",
            },
        );
        refused.retry_after_secs = Some(1);
        refused
    })?;
    state.otlp.queued(queued);
    state.otlp.wake();
    Ok(accepted(encoding, rejected, first_reason))
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, Refused> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    match content_type.as_deref() {
        Some("application/x-protobuf") => Ok(Encoding::Protobuf),
        Some("application/json") => Ok(Encoding::Json),
        _ => Err(Refused::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type application/x-protobuf or application/json",
        )),
    }
}

/// The body as sent, or gunzipped (at most [`MAX_DECODED_BYTES`]).
fn decompress<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
) -> Result<std::borrow::Cow<'b, [u8]>, Refused> {
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_ascii_lowercase());
    match coding.as_deref() {
        None | Some("") | Some("identity") => Ok(std::borrow::Cow::Borrowed(body)),
        Some("gzip") => {
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_DECODED_BYTES + 1)
                .read_to_end(&mut decoded)
                .map_err(|err| {
                    Refused::new(
                        StatusCode::BAD_REQUEST,
                        format!("the gzip body is corrupt: {err}"),
                    )
                })?;
            if decoded.len() as u64 > MAX_DECODED_BYTES {
                return Err(Refused::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the body is over {} MiB once decompressed",
                        MAX_DECODED_BYTES / 1024 / 1024
                    ),
                ));
            }
            Ok(std::borrow::Cow::Owned(decoded))
        }
        Some(other) => Err(Refused::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {other:?} is not supported; send gzip or none"),
        )),
    }
}

fn decode(body: &[u8], encoding: Encoding) -> Result<ExportTraceServiceRequest, Refused> {
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body).map_err(|err| {
            Refused::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not an OTLP ExportTraceServiceRequest: {err}"),
            )
        }),
        Encoding::Json => serde_json::from_slice::<OtlpTraces>(body)
            .map(|traces| ExportTraceServiceRequest {
                resource_spans: traces.resource_spans,
            })
            .map_err(|err| {
                Refused::new(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not an OTLP/JSON ExportTraceServiceRequest: {err}"),
                )
            }),
    }
}

fn accepted(encoding: Encoding, rejected: i64, reason: Option<String>) -> Response {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    let partial = (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: rejected,
        error_message: format!(
            "{rejected} span(s) refused; the first: {}",
            reason.unwrap_or_default()
        ),
    });
    let body = match encoding {
        Encoding::Protobuf => ExportTraceServiceResponse {
            partial_success: partial,
        }
        .encode_to_vec(),
        Encoding::Json => match partial {
            Some(partial) => serde_json::json!({ "partialSuccess": {
                "rejectedSpans": partial.rejected_spans,
                "errorMessage": partial.error_message,
            }}),
            None => serde_json::json!({}),
        }
        .to_string()
        .into_bytes(),
    };
    ([(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
}
