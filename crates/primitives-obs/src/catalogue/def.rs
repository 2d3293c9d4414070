//! What a metric definition is: its type, unit, name, labels and buckets,
//! and the checks a definition must pass.

/// The Prometheus type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonically increasing count (`_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution in buckets.
    Histogram,
}

impl MetricKind {
    /// The Prometheus `# TYPE` word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// The unit of a metric's values; dashboards map it to a display unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Seconds (`_seconds`).
    Seconds,
    /// Bytes (`_bytes`).
    Bytes,
    /// US dollars (`_usd`).
    Usd,
    /// A plain count of things.
    Count,
    /// A ratio in `[0, 1]`.
    Ratio,
    /// A state or info gauge whose value is 0 or 1.
    Info,
}

impl Unit {
    /// The unit's name as written in the catalogue table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Seconds => "seconds",
            Self::Bytes => "bytes",
            Self::Usd => "usd",
            Self::Count => "count",
            Self::Ratio => "ratio",
            Self::Info => "info",
        }
    }
}

/// The definition of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// The full Prometheus name (`_total` for counters, base unit suffixes).
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// What the values measure.
    pub unit: Unit,
    /// The `# HELP` text.
    pub help: &'static str,
    /// The label names, in the order label values are given.
    pub labels: &'static [&'static str],
    /// Histogram bucket upper bounds (empty for counters and gauges).
    pub buckets: &'static [f64],
}

impl MetricDef {
    /// A counter of things (unit [`Unit::Count`]).
    pub const fn counter(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            kind: MetricKind::Counter,
            unit: Unit::Count,
            help,
            labels,
            buckets: &[],
        }
    }

    /// A gauge (unit [`Unit::Count`]).
    pub const fn gauge(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            kind: MetricKind::Gauge,
            unit: Unit::Count,
            help,
            labels,
            buckets: &[],
        }
    }

    /// A histogram with `buckets` (unit [`Unit::Seconds`]).
    pub const fn histogram(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
    ) -> Self {
        Self {
            name,
            kind: MetricKind::Histogram,
            unit: Unit::Seconds,
            help,
            labels,
            buckets,
        }
    }

    /// The same definition with another unit.
    pub const fn with_unit(mut self, unit: Unit) -> Self {
        self.unit = unit;
        self
    }

    /// Checks the definition: a valid Prometheus metric name with the suffix
    /// its type and unit call for, valid and distinct label names, and
    /// buckets (strictly increasing, finite) exactly for histograms.
    ///
    /// # Errors
    /// A [`CatalogueError::Invalid`] naming the metric and the problem.
    pub fn validate(&self) -> Result<(), CatalogueError> {
        let invalid = |reason: String| CatalogueError::Invalid {
            metric: self.name.to_owned(),
            reason,
        };
        if !is_valid_name(self.name, true) {
            return Err(invalid(
                "the name must match [a-zA-Z_:][a-zA-Z0-9_:]*".into(),
            ));
        }
        if self.kind == MetricKind::Counter && !self.name.ends_with("_total") {
            return Err(invalid("a counter's name must end in `_total`".into()));
        }
        let suffix = match self.unit {
            Unit::Seconds => Some("_seconds"),
            Unit::Bytes => Some("_bytes"),
            Unit::Usd => Some("_usd"),
            _ => None,
        };
        if let Some(suffix) = suffix {
            let base = self.name.strip_suffix("_total").unwrap_or(self.name);
            if !base.ends_with(suffix) {
                return Err(invalid(format!(
                    "a metric in {} must have `{suffix}` in its name",
                    self.unit.as_str()
                )));
            }
        }
        for (i, label) in self.labels.iter().enumerate() {
            if !is_valid_name(label, false) || label.starts_with("__") {
                return Err(invalid(format!(
                    "label `{label}` must match [a-zA-Z_][a-zA-Z0-9_]* and not start with `__`"
                )));
            }
            if matches!(*label, "le" | "quantile") {
                return Err(invalid(format!(
                    "label `{label}` is reserved by Prometheus"
                )));
            }
            if self.labels[..i].contains(label) {
                return Err(invalid(format!("label `{label}` is listed twice")));
            }
        }
        match self.kind {
            MetricKind::Histogram => {
                let increasing = self.buckets.windows(2).all(|w| w[0] < w[1]);
                if self.buckets.is_empty()
                    || !increasing
                    || !self.buckets.iter().all(|b| b.is_finite())
                {
                    return Err(invalid(
                        "a histogram needs finite, strictly increasing buckets".into(),
                    ));
                }
            }
            _ if !self.buckets.is_empty() => {
                return Err(invalid("only histograms have buckets".into()));
            }
            _ => {}
        }
        Ok(())
    }
}

fn is_valid_name(name: &str, allow_colon: bool) -> bool {
    let ok = |c: char, first: bool| {
        c == '_'
            || c.is_ascii_alphabetic()
            || (!first && c.is_ascii_digit())
            || (allow_colon && c == ':')
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| ok(c, true)) && chars.all(|c| ok(c, false))
}

/// Why a definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// The definition itself is wrong.
    #[error("invalid metric definition `{metric}`: {reason}")]
    Invalid {
        /// The metric's name.
        metric: String,
        /// What is wrong.
        reason: String,
    },
    /// A different definition with the same name is already registered.
    #[error(
        "metric `{metric}` is already registered as a {existing} with labels {existing_labels:?}; it cannot be registered again as a {new} with labels {new_labels:?}"
    )]
    Conflict {
        /// The metric's name.
        metric: String,
        /// The registered type.
        existing: &'static str,
        /// The registered labels.
        existing_labels: &'static [&'static str],
        /// The refused type.
        new: &'static str,
        /// The refused labels.
        new_labels: &'static [&'static str],
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `def`'s refusal reason, or `"ok"`.
    fn verdict(def: MetricDef) -> String {
        match def.validate() {
            Ok(()) => "ok".into(),
            Err(CatalogueError::Invalid { metric, reason }) => {
                assert_eq!(metric, def.name);
                reason
            }
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn each_rule_of_a_definition_is_checked() {
        const B: &[f64] = &[0.1, 1.0];
        let gauge = |name| MetricDef::gauge(name, "Help.", &[]);
        let labelled = |labels| MetricDef::counter("labelled_total", "Help.", labels);
        let histogram = |buckets| MetricDef::histogram("wait_seconds", "Help.", &[], buckets);
        let cases = [
            (MetricDef::counter("jobs:done_total", "Help.", &[]), "ok"),
            (gauge("1jobs"), "the name must match"),
            (gauge("jobs-done"), "the name must match"),
            (
                MetricDef::counter("jobs", "Help.", &[]),
                "must end in `_total`",
            ),
            (gauge("wait_seconds").with_unit(Unit::Seconds), "ok"),
            (gauge("wait").with_unit(Unit::Seconds), "`_seconds`"),
            (gauge("heap_bytes").with_unit(Unit::Bytes), "ok"),
            (gauge("heap").with_unit(Unit::Bytes), "`_bytes`"),
            (
                MetricDef::counter("cost_usd_total", "Help.", &[]).with_unit(Unit::Usd),
                "ok",
            ),
            (
                MetricDef::counter("cost_total", "Help.", &[]).with_unit(Unit::Usd),
                "`_usd`",
            ),
            (gauge("ratio").with_unit(Unit::Ratio), "ok"),
            (labelled(&["route", "status"]), "ok"),
            (labelled(&["__route"]), "not start with `__`"),
            (labelled(&["a:b"]), "must match [a-zA-Z_]"),
            (labelled(&["le"]), "reserved by Prometheus"),
            (labelled(&["quantile"]), "reserved by Prometheus"),
            (labelled(&["route", "route"]), "listed twice"),
            (histogram(B), "ok"),
            (histogram(&[]), "finite, strictly increasing"),
            (histogram(&[1.0, 1.0]), "finite, strictly increasing"),
            (
                histogram(&[1.0, f64::INFINITY]),
                "finite, strictly increasing",
            ),
            (
                MetricDef {
                    buckets: B,
                    ..gauge("queue")
                },
                "only histograms have buckets",
            ),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .map(|(def, expected)| (def.name, def.labels, verdict(*def), *expected))
            .filter(|(.., got, expected)| match *expected {
                "ok" => got != "ok",
                reason => !got.contains(reason),
            })
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
