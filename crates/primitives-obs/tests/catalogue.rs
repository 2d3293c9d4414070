//! The README's catalogue table is generated from the catalogue.

use std::path::Path;

use tta_primitives_obs::catalogue::{BUILTIN, markdown_table};

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
