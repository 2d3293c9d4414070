//! Extra metric catalogues are given to the configuration, so their
//! histograms get their own buckets in whatever order things are set up:
//! a definition registered before initialisation, one given to the
//! configuration and registered again afterwards (as a library does
//! lazily) both render with their own bucket bounds on the real endpoint.
//! (langfuse-client's `langfuse_otlp` test gives the LLM catalogue the same
//! way.)

use tta_obs_init::{ObservabilityConfig, TracesExporter, initialize_observability};
use tta_primitives_obs::{
    catalogue::{Catalogue, MetricDef, Unit},
    series::HistogramSeries,
};
use tta_test_support::get;

static BEFORE: MetricDef = MetricDef::histogram(
    "test_registered_before_seconds",
    "Registered before initialisation.",
    &["case"],
    &[0.5, 7.0],
);

static LATER: MetricDef = MetricDef::histogram(
    "test_registered_later_bytes",
    "Given to the configuration, registered again after initialisation.",
    &["case"],
    &[64.0, 4096.0],
)
.with_unit(Unit::Bytes);

static LATER_CATALOGUE: &[&MetricDef] = &[&LATER];

/// The `le` bounds `/metrics` shows for `metric`.
fn bounds(text: &str, metric: &str) -> Vec<String> {
    let prefix = format!("{metric}_bucket{{");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| {
            l.split("le=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_histogram_has_its_own_buckets_whatever_the_order_of_set_up() {
    Catalogue::global().register(&BEFORE).unwrap();
    let config = ObservabilityConfig::builder("catalogue-order")
        .metrics_addr("127.0.0.1:0")
        .traces_exporter(TracesExporter::None)
        .metric_catalogue(LATER_CATALOGUE)
        .build()
        .unwrap();
    let guard = initialize_observability(config).unwrap();
    // After initialisation, as a library registers its metrics when first
    // used (registering the same definition again is a no-op).
    let later = HistogramSeries::new(&LATER).unwrap();
    let before = HistogramSeries::new(&BEFORE).unwrap();
    later.record(&["a"], 100.0);
    before.record(&["a"], 1.0);

    let addr = guard.metrics_addr().unwrap();
    let (status, text) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(bounds(&text, LATER.name), ["64", "4096", "+Inf"], "{text}");
    assert_eq!(bounds(&text, BEFORE.name), ["0.5", "7", "+Inf"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalogue_that_conflicts_with_a_registered_metric_is_refused_by_name() {
    static CLASH: MetricDef = MetricDef::counter(
        "tta_primitive_duration_seconds",
        "Clashes with a built-in.",
        &[],
    );
    static CLASHING: &[&MetricDef] = &[&CLASH];
    let config = ObservabilityConfig::builder("catalogue-clash")
        .without_metrics_endpoint()
        .traces_exporter(TracesExporter::None)
        .metric_catalogue(CLASHING)
        .build()
        .unwrap();
    let err = initialize_observability(config).unwrap_err().to_string();
    assert!(
        err.contains("metric_catalogue") && err.contains("tta_primitive_duration_seconds"),
        "{err}"
    );
}
