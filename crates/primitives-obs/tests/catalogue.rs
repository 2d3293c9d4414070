//! The README's catalogue table is generated from the catalogue.

use tta_primitives_obs::catalogue::{BUILTIN, markdown_table};

const START: &str = "<!-- catalogue:start -->\n";
const END: &str = "<!-- catalogue:end -->";

#[test]
fn the_readme_catalogue_table_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme
        .find(START)
        .expect("README has the catalogue start marker")
        + START.len();
    let end = readme
        .find(END)
        .expect("README has the catalogue end marker");
    let table = markdown_table(BUILTIN);
    if readme[start..end] == table {
        return;
    }
    if std::env::var_os("TTA_UPDATE_README").is_some() {
        let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    panic!(
        "the README's catalogue table is out of date; run \
         `TTA_UPDATE_README=1 cargo test -p tta-primitives-obs --test catalogue` and commit README.md"
    );
}
