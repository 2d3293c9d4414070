//! The metric catalogue: one definition per metric, read by everything else.
//!
//! Every metric this toolkit emits is a [`MetricDef`]: name, type, unit, help
//! text, label names and (for histograms) bucket bounds. The built-in
//! definitions are constants in this module; other crates and applications
//! add theirs to the process-wide [`Catalogue`] with [`Catalogue::register`].
//! Metric handles are only ever created from a definition (see
//! [`crate::series`]), so nothing can emit a metric the catalogue does not
//! describe, and dashboards, rules and docs generated from the catalogue can
//! only query metrics that exist.
//!
//! ```
//! use tta_primitives_obs::catalogue::{Catalogue, MetricDef, MetricKind, Unit};
//!
//! static ORDERS: MetricDef = MetricDef::counter("shop_orders_total", "Orders placed.", &["status"]);
//!
//! let catalogue = Catalogue::global();
//! catalogue.register(&ORDERS).unwrap();
//! catalogue.register(&ORDERS).unwrap(); // registering the same definition again is a no-op
//! assert!(catalogue.get("shop_orders_total").is_some());
//! assert_eq!(catalogue.get("tta_primitive_duration_seconds").unwrap().kind, MetricKind::Histogram);
//! assert_eq!(ORDERS.unit, Unit::Count);
//! ```

mod builtin;
mod def;

use std::{
    fmt::Write as _,
    sync::{OnceLock, RwLock},
};

pub use builtin::*;
pub use def::{CatalogueError, MetricDef, MetricKind, Unit};

/// The process-wide set of metric definitions: the built-ins plus whatever
/// crates and applications register.
#[derive(Debug)]
pub struct Catalogue {
    defs: RwLock<Vec<&'static MetricDef>>,
}

impl Catalogue {
    /// The process-wide catalogue, holding the built-in definitions.
    pub fn global() -> &'static Catalogue {
        static GLOBAL: OnceLock<Catalogue> = OnceLock::new();
        GLOBAL.get_or_init(|| Catalogue {
            defs: RwLock::new(BUILTIN.to_vec()),
        })
    }

    /// Adds `def`. Registering an identical definition again is a no-op.
    ///
    /// # Errors
    /// [`CatalogueError::Invalid`] for a malformed definition,
    /// [`CatalogueError::Conflict`] when another definition has the name.
    pub fn register(&self, def: &'static MetricDef) -> Result<(), CatalogueError> {
        def.validate()?;
        let mut defs = self.defs.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = defs.iter().find(|d| d.name == def.name) {
            if **existing == *def {
                return Ok(());
            }
            return Err(CatalogueError::Conflict {
                metric: def.name.to_owned(),
                existing: existing.kind.as_str(),
                existing_labels: existing.labels,
                new: def.kind.as_str(),
                new_labels: def.labels,
            });
        }
        defs.push(def);
        drop(defs);
        crate::series::describe(def);
        Ok(())
    }

    /// The definition named `name`.
    pub fn get(&self, name: &str) -> Option<&'static MetricDef> {
        self.defs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .find(|d| d.name == name)
    }

    /// Every definition, in registration order (built-ins first).
    pub fn all(&self) -> Vec<&'static MetricDef> {
        self.defs.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The bucket bounds of every histogram, for the exporter's
    /// configuration (`metrics-exporter-prometheus` renders histograms
    /// without configured buckets as summaries).
    pub fn histogram_buckets(&self) -> Vec<(&'static str, &'static [f64])> {
        self.all()
            .into_iter()
            .filter(|d| d.kind == MetricKind::Histogram)
            .map(|d| (d.name, d.buckets))
            .collect()
    }

    /// Describes every definition to the installed `metrics` recorder, so
    /// `/metrics` shows `# HELP` and `# TYPE` for each. Call it after
    /// installing the recorder (obs-init does).
    pub fn describe_all(&self) {
        for def in self.all() {
            crate::series::describe(def);
        }
    }
}

/// The catalogue as a Markdown table (the crate README embeds it).
pub fn markdown_table(defs: &[&MetricDef]) -> String {
    let mut out = String::from("| metric | type | unit | labels | help |\n|---|---|---|---|---|\n");
    for def in defs {
        let labels = def.labels.join(", ");
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            def.name,
            def.kind.as_str(),
            def.unit.as_str(),
            labels,
            def.help.replace('|', "\\|")
        );
    }
    out
}
