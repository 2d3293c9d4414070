//! The upstream specifications tests validate against, never copied into
//! the repository. A spec is looked for, in order, in `$TTA_SPECS_DIR`, in
//! `../shared/specs` beside the workspace, and in a cache outside the clone
//! (`$TTA_SPECS_CACHE`, else `$XDG_CACHE_HOME/tta/specs`, else
//! `~/.cache/tta/specs`) that `cargo xtask setup` fills from a
//! commit-pinned upstream URL, checking each file's SHA-256. So an ordinary
//! clone without `../shared` passes too; when no copy is reachable, the test
//! fails naming the upstream file and how to get it.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A spec pinned to one upstream version: where it comes from and the
/// SHA-256 of its content.
#[derive(Debug, Clone, Copy)]
pub struct PinnedSpec {
    /// The file name tests ask for.
    pub file: &'static str,
    /// The upstream repository and path, for messages.
    pub upstream: &'static str,
    /// The commit-pinned URL of the raw file.
    pub url: &'static str,
    /// The SHA-256 of the file, lowercase hex.
    pub sha256: &'static str,
}

/// The host every pinned URL starts with; `TTA_SPECS_MIRROR` replaces it
/// (a local mirror, or the fetch test's server).
pub const UPSTREAM_HOST: &str = "https://raw.githubusercontent.com";

/// Every spec the tests use, pinned.
pub const PINNED: &[PinnedSpec] = &[
    PinnedSpec {
        file: "langfuse-openapi.yml",
        upstream: "langfuse/langfuse `web/public/generated/api/openapi.yml`",
        url: "https://raw.githubusercontent.com/langfuse/langfuse/287310b6a1433fc42f47044ac9f4fcedd18f7310/web/public/generated/api/openapi.yml",
        sha256: "896774f965f21a50e432c71e23301d2424086f9ac0c8cf43305671f98b64b233",
    },
    PinnedSpec {
        file: "grafana-dashboard.jsonschema.json",
        upstream: "grafana/grafana-foundation-sdk `jsonschema/dashboard.jsonschema.json`",
        url: "https://raw.githubusercontent.com/grafana/grafana-foundation-sdk/5e6b0fa2c4d22d59fac8ce22753e509c62d206a0/jsonschema/dashboard.jsonschema.json",
        sha256: "67451cd5b288f97e3f68eccd52ffa4f75151fc87c669b8cd93c051056b294265",
    },
    PinnedSpec {
        file: "compose-spec.json",
        upstream: "compose-spec/compose-spec `schema/compose-spec.json`",
        url: "https://raw.githubusercontent.com/compose-spec/compose-spec/00655e2222608fa6eaecdf12ac5195889ca2244a/schema/compose-spec.json",
        sha256: "1f91e091f16b2dd50ab8860e02bb391d22df553d91c145eacedb1b6eff9c3f0e",
    },
];

/// The pin of spec `file`.
///
/// # Panics
/// For a file that is not pinned.
pub fn pinned(file: &str) -> &'static PinnedSpec {
    PINNED
        .iter()
        .find(|p| p.file == file)
        .unwrap_or_else(|| panic!("{file} is not a pinned spec"))
}

/// The folders searched before the cache: `$TTA_SPECS_DIR`, then
/// `../shared/specs` beside the workspace.
pub fn spec_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("TTA_SPECS_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs"));
    dirs
}

/// The cache outside the clone: `$TTA_SPECS_CACHE`, else
/// `$XDG_CACHE_HOME/tta/specs`, else `~/.cache/tta/specs`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TTA_SPECS_CACHE") {
        return PathBuf::from(dir);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join("tta")
        .join("specs")
}

/// The SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stores `bytes` as the cached copy of `spec` in `cache`, after checking
/// its checksum.
///
/// # Errors
/// A checksum mismatch (naming the file, both sums and the source) or a
/// file that cannot be written.
pub fn store(spec: &PinnedSpec, bytes: &[u8], cache: &Path) -> Result<PathBuf, String> {
    let got = sha256_hex(bytes);
    if got != spec.sha256 {
        return Err(format!(
            "{} from {} has SHA-256 {got}, expected {}: refusing it",
            spec.file, spec.upstream, spec.sha256
        ));
    }
    std::fs::create_dir_all(cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let path = cache.join(spec.file);
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Where spec `file` is: the first of `dirs` holding it, else `cache` when
/// its copy there has the pinned checksum.
///
/// # Errors
/// When no copy is found, naming the upstream file, the pinned URL and
/// `cargo xtask setup`, which fetches it.
pub fn locate(file: &str, dirs: &[PathBuf], cache: &Path) -> Result<PathBuf, String> {
    if let Some(found) = dirs.iter().map(|d| d.join(file)).find(|p| p.exists()) {
        return Ok(found);
    }
    let spec = pinned(file);
    let cached = cache.join(file);
    match std::fs::read(&cached) {
        Ok(bytes) if sha256_hex(&bytes) == spec.sha256 => Ok(cached),
        Ok(_) => Err(format!(
            "the cached spec {} does not have the pinned SHA-256 {}: delete it and run `cargo xtask setup` to fetch {} again",
            cached.display(),
            spec.sha256,
            spec.upstream
        )),
        Err(_) => Err(format!(
            "spec {file} is missing: it is looked for in {} and in the cache {}; run `cargo xtask setup` to fetch {} from {} (or point TTA_SPECS_DIR at a folder holding it)",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            cache.display(),
            spec.upstream,
            spec.url
        )),
    }
}

/// The path of spec `file`.
///
/// # Panics
/// When it is missing, naming the upstream file and how to get it.
pub fn spec_path(file: &str) -> PathBuf {
    locate(file, &spec_dirs(), &cache_dir()).unwrap_or_else(|message| panic!("{message}"))
}

/// The spec `file` parsed (YAML or JSON).
///
/// # Panics
/// When it is missing or does not parse.
pub fn load_spec(file: &str) -> Value {
    let path = spec_path(file);
    let text = std::fs::read_to_string(&path).expect("spec is readable");
    serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("spec {} does not parse: {e}", path.display()))
}

/// An OpenAPI 3.0 document's component schemas as one JSON Schema (2020-12)
/// document: `#/components/schemas/X` becomes `#/$defs/X`, and OpenAPI's
/// `nullable: true` becomes "or null".
pub struct OpenApiSchemas {
    defs: Map<String, Value>,
}

impl OpenApiSchemas {
    /// The component schemas of the OpenAPI spec `file`.
    ///
    /// # Panics
    /// When the spec is missing or has no component schemas.
    pub fn load(file: &str) -> Self {
        let spec = load_spec(file);
        let schemas = spec["components"]["schemas"]
            .as_object()
            .unwrap_or_else(|| panic!("{file} has no components.schemas"))
            .clone();
        let defs = schemas
            .into_iter()
            .map(|(name, schema)| (name, convert(schema)))
            .collect();
        Self { defs }
    }

    /// A validator for component `name` (formats checked).
    ///
    /// # Panics
    /// When the schema does not compile.
    pub fn validator(&self, name: &str) -> jsonschema::Validator {
        self.validator_for(&serde_json::json!({"$ref": format!("#/$defs/{name}")}))
    }

    /// A validator for `schema`, which may refer to the components.
    ///
    /// # Panics
    /// When the schema does not compile.
    pub fn validator_for(&self, schema: &Value) -> jsonschema::Validator {
        let mut root = convert(schema.clone());
        root["$schema"] = Value::String("https://json-schema.org/draft/2020-12/schema".into());
        root["$defs"] = Value::Object(self.defs.clone());
        jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema does not compile: {e}"))
    }

    /// Every property name component `name` defines, through `allOf` and `$ref`.
    pub fn properties(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect(&Value::String(format!("#/$defs/{name}")), &mut out, 0);
        out
    }

    fn collect(&self, reference: &Value, out: &mut BTreeSet<String>, depth: u32) {
        let Some(name) = reference.as_str().and_then(|r| r.strip_prefix("#/$defs/")) else {
            return;
        };
        let Some(schema) = self.defs.get(name) else {
            return;
        };
        self.collect_schema(schema, out, depth);
    }

    fn collect_schema(&self, schema: &Value, out: &mut BTreeSet<String>, depth: u32) {
        if depth > 16 {
            return;
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            out.extend(props.keys().cloned());
        }
        if let Some(r) = schema.get("$ref") {
            self.collect(r, out, depth + 1);
        }
        for key in ["allOf", "anyOf"] {
            for sub in schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.collect_schema(sub, out, depth + 1);
            }
        }
    }
}

/// OpenAPI 3.0 schema object to JSON Schema 2020-12.
fn convert(schema: Value) -> Value {
    match schema {
        Value::Object(mut map) => {
            let nullable = map.remove("nullable").and_then(|v| v.as_bool()) == Some(true);
            // OpenAPI-only keywords that JSON Schema would misread or ignore.
            map.remove("discriminator");
            map.remove("example");
            let mut converted: Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| {
                    let v = if k == "$ref" {
                        match v {
                            Value::String(r) => {
                                Value::String(r.replace("#/components/schemas/", "#/$defs/"))
                            }
                            other => other,
                        }
                    } else if k == "properties" {
                        match v {
                            Value::Object(props) => Value::Object(
                                props.into_iter().map(|(p, s)| (p, convert(s))).collect(),
                            ),
                            other => other,
                        }
                    } else {
                        convert(v)
                    };
                    (k, v)
                })
                .collect();
            if nullable {
                let inner = std::mem::take(&mut converted);
                let mut wrapper = Map::new();
                wrapper.insert(
                    "anyOf".into(),
                    Value::Array(vec![
                        Value::Object(inner),
                        serde_json::json!({"type": "null"}),
                    ]),
                );
                Value::Object(wrapper)
            } else {
                Value::Object(converted)
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(convert).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tta-specs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_spec_is_found_in_a_folder_first_then_in_the_checked_cache() {
        let (dir, cache) = (temp("dir"), temp("cache"));
        let spec = pinned("compose-spec.json");
        let missing = locate(spec.file, std::slice::from_ref(&dir), &cache).unwrap_err();
        assert!(
            missing.contains(spec.upstream) && missing.contains("cargo xtask setup"),
            "{missing}"
        );

        // A copy with the wrong content is refused on the way in...
        let refused = store(spec, b"{}", &cache).unwrap_err();
        assert!(refused.contains("expected"), "{refused}");
        // ... and found out if it got into the cache some other way.
        std::fs::write(cache.join(spec.file), b"{}").unwrap();
        let stale = locate(spec.file, std::slice::from_ref(&dir), &cache).unwrap_err();
        assert!(
            stale.contains("does not have the pinned SHA-256"),
            "{stale}"
        );

        // A folder copy wins and is used as it is.
        std::fs::write(dir.join(spec.file), b"local").unwrap();
        assert_eq!(
            locate(spec.file, std::slice::from_ref(&dir), &cache).unwrap(),
            dir.join(spec.file)
        );
    }

    #[test]
    fn every_pinned_url_is_commit_pinned_on_the_upstream_host() {
        for spec in PINNED {
            assert!(spec.url.starts_with(UPSTREAM_HOST), "{}", spec.url);
            let commit = spec.url.split('/').nth(5).unwrap();
            assert!(
                commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                spec.url
            );
            assert_eq!(spec.sha256.len(), 64);
        }
    }
}
