//! Checks that generated content committed in the repository is current.

use std::path::Path;

/// Asserts that the part of `file` between `start` and `end` (marker lines)
/// equals `content`. With `TTA_UPDATE_GENERATED=1` in the environment, the
/// file is rewritten instead, for the developer to commit.
///
/// # Panics
/// When the markers are missing, or the section is stale (naming the
/// command that regenerates it).
pub fn assert_section_current(
    file: &Path,
    start: &str,
    end: &str,
    content: &str,
    regenerate: &str,
) {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{} has no `{start}` marker", file.display()))
        + start.len();
    let to = text
        .find(end)
        .unwrap_or_else(|| panic!("{} has no `{end}` marker", file.display()));
    if text[from..to] == *content {
        return;
    }
    if std::env::var_os("TTA_UPDATE_GENERATED").is_some() {
        let updated = format!("{}{content}{}", &text[..from], &text[to..]);
        std::fs::write(file, updated).expect("the file is writable");
        return;
    }
    panic!(
        "{} is out of date with the code that generates it; run `TTA_UPDATE_GENERATED=1 {regenerate}` and commit it",
        file.display()
    );
}
