//! OTLP export settings: endpoint, headers, timeout, compression.

use std::{fmt, time::Duration};

use tta_primitives_obs::redact::{Secrets, redact_url};

use crate::InitError;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// HTTP with protobuf bodies (port 4318; the endpoint is the traces URL).
    HttpProtobuf,
    /// gRPC (port 4317; the endpoint is the collector's base URL).
    Grpc,
}

/// The longest an OTLP export may be given (`OTEL_EXPORTER_OTLP_TIMEOUT`,
/// `otlp_timeout`): a longer one would only keep spans queued behind a
/// collector that is not answering.
pub const MAX_OTLP_TIMEOUT: Duration = Duration::from_secs(60);

/// The OTLP export timeout when none is set (the specification's default).
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how spans are sent over OTLP.
#[derive(Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The setting that gave the endpoint, for error messages.
    pub(crate) setting: &'static str,
    pub(crate) protocol: OtlpProtocol,
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) gzip: bool,
}

impl fmt::Debug for OtlpSettings {
    /// Header values may be credentials: only their names are shown; the
    /// endpoint's query values are masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpSettings")
            .field("protocol", &self.protocol)
            .field("endpoint", &redact_url(&self.endpoint))
            .field("headers", &names)
            .field("timeout", &self.timeout)
            .field("gzip", &self.gzip)
            .finish()
    }
}

impl fmt::Display for OtlpSettings {
    /// `OTLP/HTTP to <endpoint>` with the endpoint's credentials masked: what
    /// a banner may print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self.protocol {
            OtlpProtocol::HttpProtobuf => "OTLP/HTTP",
            OtlpProtocol::Grpc => "OTLP/gRPC",
        };
        write!(f, "{protocol} to {}", redact_url(&self.endpoint))
    }
}

impl OtlpSettings {
    /// Settings for `endpoint` over `protocol`: over HTTP the full URL of
    /// the traces endpoint (`http://collector:4318/v1/traces`, a query
    /// string kept as given), over gRPC the collector's base URL.
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming `setting` when the URL is not
    /// an `http`/`https` URL with a host, carries credentials in its
    /// userinfo, or (over gRPC) uses `https` or has a path or query.
    pub(crate) fn with_protocol(
        setting: &'static str,
        endpoint: &str,
        protocol: OtlpProtocol,
    ) -> Result<Self, InitError> {
        validate_url(setting, endpoint, protocol)?;
        Ok(Self {
            setting,
            protocol,
            endpoint: endpoint.trim().to_owned(),
            headers: Vec::new(),
            timeout: DEFAULT_OTLP_TIMEOUT,
            gzip: false,
        })
    }

    /// The URL spans are sent to. It may carry credentials in its query
    /// string: print the settings' `Display` form instead.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The transport.
    pub fn protocol(&self) -> OtlpProtocol {
        self.protocol
    }

    /// How long one export may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Adds the secrets these settings carry (header values, the
    /// endpoint's query values) to `secrets`.
    pub(crate) fn collect_secrets(&self, secrets: &mut Secrets) {
        secrets.add_url(&self.endpoint);
        for (_, value) in &self.headers {
            secrets.add(value);
        }
    }
}

/// Checks an export timeout given by `setting`.
pub(crate) fn validate_timeout(setting: &'static str, timeout: Duration) -> Result<(), InitError> {
    if timeout.is_zero() || timeout > MAX_OTLP_TIMEOUT {
        return Err(InitError::invalid(
            setting,
            format!("{timeout:?}"),
            "use a timeout above zero and at most 60 s (60000 ms); the default is 10 s",
        ));
    }
    Ok(())
}

fn validate_url(setting: &'static str, url: &str, protocol: OtlpProtocol) -> Result<(), InitError> {
    let invalid = |fix: &'static str| InitError::invalid(setting, redact_url(url), fix);
    let uri: http::Uri = url.trim().parse().map_err(|_| {
        invalid("use an http:// or https:// URL with a host, e.g. http://127.0.0.1:4318")
    })?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid(
            "use an http:// or https:// URL with a host, e.g. http://127.0.0.1:4318",
        ));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(invalid(
            "do not put credentials in the URL: send them as a header, e.g. OTEL_EXPORTER_OTLP_HEADERS=authorization=Basic%20<base64 of user:password>",
        ));
    }
    match (protocol, uri.scheme_str()) {
        (OtlpProtocol::HttpProtobuf, Some("http" | "https"))
        | (OtlpProtocol::Grpc, Some("http")) => {}
        (OtlpProtocol::Grpc, Some("https")) => {
            return Err(invalid(
                "OTLP/gRPC over TLS is not built in: use OTLP/HTTP over https (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and port 4318), or plain http:// to a local collector",
            ));
        }
        _ => {
            return Err(invalid(
                "use an http:// or https:// URL with a host, e.g. http://127.0.0.1:4318",
            ));
        }
    }
    if protocol == OtlpProtocol::Grpc
        && (uri.query().is_some() || !uri.path().trim_end_matches('/').is_empty())
    {
        return Err(invalid(
            "an OTLP/gRPC endpoint is the collector's base URL, without a path or query, e.g. http://127.0.0.1:4317",
        ));
    }
    Ok(())
}

/// The traces endpoint from the variable `found` (the one the settings
/// helper read, with its value): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
/// used as is; `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL (over HTTP
/// `/v1/traces` is appended to its path, before any query string, as the
/// specification says; over gRPC it is used as is).
pub(crate) fn endpoint_from_env(
    found: Option<(&'static str, String)>,
    protocol: OtlpProtocol,
) -> Result<Option<OtlpSettings>, InitError> {
    let Some((variable, url)) = found else {
        return Ok(None);
    };
    if variable == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" {
        return OtlpSettings::with_protocol(variable, &url, protocol).map(Some);
    }
    // The general endpoint: checked as given, so an error shows what the
    // user wrote; over HTTP, the traces path is appended.
    validate_url(variable, &url, protocol)?;
    let url = match protocol {
        OtlpProtocol::HttpProtobuf => traces_url(&url),
        OtlpProtocol::Grpc => url,
    };
    OtlpSettings::with_protocol(variable, &url, protocol).map(Some)
}

/// `base` with `/v1/traces` appended to its path, its query kept.
fn traces_url(base: &str) -> String {
    let base = base.trim();
    let (before_fragment, _) = base.split_once('#').unwrap_or((base, ""));
    match before_fragment.split_once('?') {
        Some((path, query)) => format!("{}/v1/traces?{query}", path.trim_end_matches('/')),
        None => format!("{}/v1/traces", before_fragment.trim_end_matches('/')),
    }
}

/// The gRPC metadata for `headers`.
///
/// # Errors
/// An [`InitError::InvalidSetting`] naming `setting` for a name gRPC does
/// not allow, a binary (`-bin`) key, or a value that is not visible ASCII;
/// values are never shown.
pub(crate) fn grpc_metadata(
    setting: &'static str,
    headers: &[(String, String)],
) -> Result<tonic::metadata::MetadataMap, InitError> {
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (key, value) in headers {
        let lower = key.to_ascii_lowercase();
        let invalid =
            |fix: &'static str| InitError::invalid(setting, format!("{}=***", shown_key(key)), fix);
        if lower.ends_with("-bin") {
            return Err(invalid(
                "binary (-bin) gRPC metadata is not supported: send the value base64-encoded under a name without the -bin suffix",
            ));
        }
        let name = tonic::metadata::MetadataKey::from_bytes(lower.as_bytes())
            .map_err(|_| invalid("use a header name of letters, digits, `-` and `_`"))?;
        let value = value
            .parse()
            .map_err(|_| invalid("use a visible-ASCII header value"))?;
        metadata.insert(name, value);
    }
    Ok(metadata)
}

/// A header name as an error may show it: the name when it is a valid HTTP
/// header name, else `<malformed>` (a pair written as `Authorization: Basic
/// abc` has no `=` where expected, and its "name" would be the secret).
pub(crate) fn shown_key(key: &str) -> &str {
    let key = key.trim();
    if !key.is_empty() && http::HeaderName::from_bytes(key.as_bytes()).is_ok() {
        key
    } else {
        "<malformed>"
    }
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
                    .map_or("<malformed>", |(k, _)| shown_key(k))
                    .to_owned()
                    + "=***"
            })
            .collect::<Vec<_>>()
            .join(",")
    } else {
        raw.to_owned()
    };
    InitError::invalid(
        setting,
        value,
        "use comma-separated key=value pairs with percent-encoded values, e.g. key1=value1,key2=a%20b",
    )
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
