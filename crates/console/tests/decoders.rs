//! Arbitrary bytes never crash the decoders: protobuf and JSON bodies
//! either decode to an export request the console converts, or are refused.

use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, trace::v1::ExportTraceServiceRequest,
};
use proptest::prelude::*;
use prost::Message as _;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_protobuf_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(request) = ExportTraceServiceRequest::decode(bytes.as_slice()) {
            let (spans, _invalid) = tta_console::decode_spans(request);
            for span in spans {
                prop_assert_eq!(span.trace_id.len(), 32);
                prop_assert_eq!(span.span_id.len(), 16);
                prop_assert!(span.end_ns >= span.start_ns);
            }
        }
        if let Ok(request) = ExportLogsServiceRequest::decode(bytes.as_slice()) {
            let _ = tta_console::decode_logs(request);
        }
    }

    #[test]
    fn arbitrary_json_never_panics(text in "\\PC{0,256}") {
        if let Ok(request) = serde_json::from_str::<ExportTraceServiceRequest>(&text) {
            let _ = tta_console::decode_spans(request);
        }
    }

    #[test]
    fn json_shaped_like_otlp_never_panics(
        trace in "[0-9a-fA-F]{0,40}",
        span in "[0-9a-fA-Z]{0,20}",
        start in any::<u64>(),
        end in any::<u64>(),
    ) {
        let body = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{trace}","spanId":"{span}","name":"x","startTimeUnixNano":"{start}","endTimeUnixNano":"{end}"}}]}}]}}]}}"#
        );
        if let Ok(request) = serde_json::from_str::<ExportTraceServiceRequest>(&body) {
            let _ = tta_console::decode_spans(request);
        }
    }
}
