//! The catalogue: its lookups, and the README's table generated from it.

use std::path::Path;

use tta_primitives_obs::catalogue::{BUILTIN, Catalogue, markdown_table};

#[test]
fn the_readme_catalogue_table_is_current() {
    tta_test_support::generated::assert_section_current(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"),
        "<!-- catalogue:start -->\n",
        "<!-- catalogue:end -->",
        &markdown_table(BUILTIN),
        "cargo test -p tta-primitives-obs --test catalogue",
    );
}

#[test]
fn every_builtin_definition_is_found_by_its_name_and_nothing_else_is() {
    let catalogue = Catalogue::global();
    for def in BUILTIN {
        assert_eq!(catalogue.get(def.name), Some(*def), "{}", def.name);
    }
    assert_eq!(catalogue.get("tta_no_such_metric_total"), None);
    assert_eq!(catalogue.get(""), None);
}
