//! The README's table of this crate's metrics is generated from their
//! definitions, which are valid and registered in the global catalogue.

use std::path::Path;

use tta_langfuse::LLM_METRICS;
use tta_primitives_obs::catalogue::{Catalogue, markdown_table};

#[test]
fn the_readme_metrics_table_is_current() {
    tta_test_support::generated::assert_section_current(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"),
        "<!-- metrics:start -->\n",
        "<!-- metrics:end -->",
        &markdown_table(LLM_METRICS),
        "cargo test -p tta-langfuse --test catalogue",
    );
}

#[test]
fn the_llm_metrics_are_valid_and_register_once() {
    for def in LLM_METRICS {
        def.validate().unwrap();
    }
    tta_langfuse::register_metrics().unwrap();
    tta_langfuse::register_metrics().unwrap();
    for def in LLM_METRICS {
        assert_eq!(Catalogue::global().get(def.name), Some(*def));
    }
}
