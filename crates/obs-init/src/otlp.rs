//! OTLP export settings: endpoint, headers, timeout, compression.

use std::{fmt, time::Duration};

use crate::InitError;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// HTTP with protobuf bodies (port 4318; the endpoint is the traces URL).
    HttpProtobuf,
    /// gRPC (port 4317; the endpoint is the collector's base URL).
    Grpc,
}

/// Where and how spans are sent over OTLP.
#[derive(Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    pub(crate) protocol: OtlpProtocol,
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) gzip: bool,
}

impl fmt::Debug for OtlpSettings {
    /// Header values may be credentials: only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpSettings")
            .field("protocol", &self.protocol)
            .field("endpoint", &self.endpoint)
            .field("headers", &names)
            .field("timeout", &self.timeout)
            .field("gzip", &self.gzip)
            .finish()
    }
}

impl OtlpSettings {
    /// Settings for `endpoint`, the full URL of the traces endpoint
    /// (`http://collector:4318/v1/traces`).
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming `setting` when the URL is not
    /// an `http`/`https` URL with a host.
    pub(crate) fn new(setting: &'static str, endpoint: &str) -> Result<Self, InitError> {
        Self::with_protocol(setting, endpoint, OtlpProtocol::HttpProtobuf)
    }

    pub(crate) fn with_protocol(
        setting: &'static str,
        endpoint: &str,
        protocol: OtlpProtocol,
    ) -> Result<Self, InitError> {
        validate_url(setting, endpoint)?;
        Ok(Self {
            protocol,
            endpoint: endpoint.to_owned(),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            gzip: false,
        })
    }

    /// The URL spans are sent to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The transport.
    pub fn protocol(&self) -> OtlpProtocol {
        self.protocol
    }
}

fn validate_url(setting: &'static str, url: &str) -> Result<(), InitError> {
    let invalid = || InitError::InvalidSetting {
        setting,
        value: url.to_owned(),
        fix: "use an http:// or https:// URL with a host, e.g. http://127.0.0.1:4318",
    };
    let uri: http::Uri = url.parse().map_err(|_| invalid())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err(invalid()),
    }
}

/// The traces endpoint from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as
/// is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL: over HTTP `/v1/traces`
/// is appended; over gRPC it is used as is).
pub(crate) fn endpoint_from_env(
    traces: Option<String>,
    base: Option<String>,
    protocol: OtlpProtocol,
) -> Result<Option<OtlpSettings>, InitError> {
    if let Some(url) = traces {
        return OtlpSettings::with_protocol("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url, protocol)
            .map(Some);
    }
    let Some(base) = base else { return Ok(None) };
    validate_url("OTEL_EXPORTER_OTLP_ENDPOINT", &base)?;
    let url = match protocol {
        OtlpProtocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
        OtlpProtocol::Grpc => base,
    };
    OtlpSettings::with_protocol("OTEL_EXPORTER_OTLP_ENDPOINT", &url, protocol).map(Some)
}

/// Parses `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs separated by
/// commas, values percent-decoded (W3C baggage format), each a valid HTTP
/// header. Errors never show the values, which may be credentials.
pub(crate) fn parse_headers(
    setting: &'static str,
    raw: &str,
) -> Result<Vec<(String, String)>, InitError> {
    let headers = parse_pairs(setting, raw, true)?;
    for (key, value) in &headers {
        if http::HeaderName::from_bytes(key.as_bytes()).is_err()
            || http::HeaderValue::from_str(value).is_err()
        {
            return Err(malformed(setting, raw, true));
        }
    }
    Ok(headers)
}

fn malformed(setting: &'static str, raw: &str, secret: bool) -> InitError {
    let value = if secret {
        raw.split(',')
            .map(|pair| {
                pair.split_once('=')
                    .map_or("<malformed>", |(k, _)| k.trim())
                    .to_owned()
                    + "=***"
            })
            .collect::<Vec<_>>()
            .join(",")
    } else {
        raw.to_owned()
    };
    InitError::InvalidSetting {
        setting,
        value,
        fix: "use comma-separated key=value pairs with percent-encoded values, e.g. key1=value1,key2=a%20b",
    }
}

/// Parses comma-separated `key=value` pairs with percent-encoded values (the
/// format of `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`).
/// With `secret`, errors show the keys only.
pub(crate) fn parse_pairs(
    setting: &'static str,
    raw: &str,
    secret: bool,
) -> Result<Vec<(String, String)>, InitError> {
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| malformed(setting, raw, secret))?;
            let key = key.trim();
            let value =
                percent_decode(value.trim()).ok_or_else(|| malformed(setting, raw, secret))?;
            if key.is_empty() {
                return Err(malformed(setting, raw, secret));
            }
            Ok((key.to_owned(), value))
        })
        .collect()
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
