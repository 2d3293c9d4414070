//! The upstream specifications tests validate against: read from
//! `../shared/specs` beside the workspace (or `$TTA_SPECS_DIR`), never
//! copied into the repository.

use std::{collections::BTreeSet, path::PathBuf};

use serde_json::{Map, Value};

/// Where each spec comes from, for the message when it is missing.
fn upstream(file: &str) -> &'static str {
    match file {
        "langfuse-openapi.yml" => "langfuse/langfuse `web/public/generated/api/openapi.yml`",
        "grafana-dashboard.jsonschema.json" => {
            "grafana/grafana-foundation-sdk `jsonschema/dashboard.jsonschema.json`"
        }
        "compose-spec.json" => "compose-spec/compose-spec `schema/compose-spec.json`",
        _ => "its upstream project",
    }
}

/// The path of spec `file`.
///
/// # Panics
/// When it is missing, naming the upstream file to put there.
pub fn spec_path(file: &str) -> PathBuf {
    let dir = std::env::var_os("TTA_SPECS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs"),
        PathBuf::from,
    );
    let path = dir.join(file);
    assert!(
        path.exists(),
        "spec {} is missing: download {} there (or point TTA_SPECS_DIR at a folder holding it)",
        path.display(),
        upstream(file)
    );
    path
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
