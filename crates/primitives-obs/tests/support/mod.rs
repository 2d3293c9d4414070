//! Shared set-up of the integration tests: a real Prometheus recorder (and
//! the reference exposition parser, from test-support).
#![allow(dead_code, unreachable_pub)]

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tta_primitives_obs::catalogue::Catalogue;

/// The process-wide Prometheus recorder, with the catalogue's buckets.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in Catalogue::global().histogram_buckets() {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
                .expect("catalogue buckets are valid");
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");
        Catalogue::global().describe_all();
        handle
    })
}

pub use tta_test_support::exposition::{parse_exposition, value};
