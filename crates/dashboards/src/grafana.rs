//! A typed model of Grafana dashboard JSON (schema of Grafana 11.6), with
//! serde: what the generator builds and what the files hold.
//!
//! Only what the generated dashboards use is modelled; every field
//! serializes to the name and shape the published dashboard schema gives
//! it (a test validates every dashboard against that schema).

use serde::Serialize;
use serde_json::Value;

/// The Prometheus datasource every panel queries, chosen by the
/// `datasource` template variable.
pub const DATASOURCE_VAR: &str = "${datasource}";

/// A dashboard.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    /// Stable identifier (links and provisioning use it).
    pub uid: String,
    /// The dashboard's title, shown in Grafana's list.
    pub title: String,
    /// What it shows.
    pub description: String,
    /// Tags (all ours carry `tta`, which dashboard links use).
    pub tags: Vec<String>,
    /// `browser`.
    pub timezone: String,
    /// Editable in the UI (provisioned copies are reset on restart).
    pub editable: bool,
    /// Shared crosshair (1).
    pub graph_tooltip: u8,
    /// Default time range.
    pub time: TimeRange,
    /// Auto-refresh.
    pub refresh: String,
    /// The dashboard JSON schema version.
    pub schema_version: u32,
    /// Version (1: generated).
    pub version: u32,
    /// Template variables.
    pub templating: Templating,
    /// Annotations (none but Grafana's built-in one).
    pub annotations: Annotations,
    /// Links to the other dashboards.
    pub links: Vec<DashboardLink>,
    /// Rows and panels, in layout order.
    pub panels: Vec<PanelOrRow>,
}

/// A time range.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimeRange {
    /// Start (`now-1h`).
    pub from: String,
    /// End (`now`).
    pub to: String,
}

/// The template variables.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Templating {
    /// The variables, in display order.
    pub list: Vec<Variable>,
}

/// The annotation list.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Annotations {
    /// Annotation queries.
    pub list: Vec<Value>,
}

/// A template variable.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    /// `datasource` or `query`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Name (`$name` in queries).
    pub name: String,
    /// Label shown.
    pub label: String,
    /// For `datasource`: the plugin id; for `query`: the PromQL
    /// `label_values(...)` query.
    pub query: String,
    /// The datasource (query variables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datasource: Option<DataSourceRef>,
    /// Refresh on time range change (2) for query variables, on load (1).
    pub refresh: u8,
    /// Several values at once.
    pub multi: bool,
    /// An "All" option.
    pub include_all: bool,
    /// The regex "All" stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_value: Option<String>,
    /// Alphabetical sort (1).
    pub sort: u8,
    /// The initial selection.
    pub current: VariableOption,
}

/// A variable's selected option.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VariableOption {
    /// Displayed text.
    pub text: String,
    /// The option's value, as the queries see it.
    pub value: String,
}

/// A reference to a datasource.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DataSourceRef {
    /// Plugin type (`prometheus`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Instance uid (or the `${datasource}` variable).
    pub uid: String,
}

impl DataSourceRef {
    /// The Prometheus datasource picked by the `datasource` variable.
    pub fn prometheus() -> Self {
        Self {
            kind: "prometheus".into(),
            uid: DATASOURCE_VAR.into(),
        }
    }
}

/// A link to the other dashboards tagged `tta`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DashboardLink {
    /// The link's text.
    pub title: String,
    /// `dashboards`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The icon Grafana shows beside the text.
    pub icon: String,
    /// The text shown on hover.
    pub tooltip: String,
    /// Dashboards with these tags.
    pub tags: Vec<String>,
    /// In a dropdown.
    pub as_dropdown: bool,
    /// New tab.
    pub target_blank: bool,
    /// Carry the variables.
    pub include_vars: bool,
    /// Carry the time range.
    pub keep_time: bool,
}

/// A row or a panel, as the `panels` array holds them.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum PanelOrRow {
    /// A row header (expanded: its panels follow it at the top level).
    Row(Row),
    /// A panel.
    Panel(Box<Panel>),
}

/// A row header.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// `row`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Stable id.
    pub id: u32,
    /// The row's title.
    pub title: String,
    /// Whether the row starts collapsed.
    pub collapsed: bool,
    /// Where the row sits in the grid.
    pub grid_pos: GridPos,
    /// Empty for an expanded row.
    pub panels: Vec<Panel>,
}

/// A panel's position on the 24-column grid.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct GridPos {
    /// Height, in grid units.
    pub h: u32,
    /// Width, in grid columns (24 across).
    pub w: u32,
    /// Left edge, in grid columns.
    pub x: u32,
    /// Top edge, in grid units.
    pub y: u32,
}

/// The visualisations the generator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelKind {
    /// Lines over time.
    TimeSeries,
    /// One big number.
    Stat,
    /// A dial.
    Gauge,
    /// Horizontal bars.
    BarGauge,
    /// A table.
    Table,
    /// Buckets over time (latency histograms).
    Heatmap,
    /// States over time (circuit breakers).
    StateTimeline,
}

impl PanelKind {
    /// The Grafana plugin id.
    pub const fn plugin(self) -> &'static str {
        match self {
            Self::TimeSeries => "timeseries",
            Self::Stat => "stat",
            Self::Gauge => "gauge",
            Self::BarGauge => "bargauge",
            Self::Table => "table",
            Self::Heatmap => "heatmap",
            Self::StateTimeline => "state-timeline",
        }
    }
}

/// Display units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayUnit {
    /// Durations in seconds (`s`).
    Seconds,
    /// A ratio shown as a percentage.
    PercentUnit,
    /// US dollars.
    CurrencyUsd,
    /// A plain number.
    Short,
    /// Requests per second.
    RequestsPerSecond,
    /// Sizes in bytes (`bytes`).
    Bytes,
}

impl DisplayUnit {
    /// Grafana's unit id.
    pub const fn id(self) -> &'static str {
        match self {
            Self::Seconds => "s",
            Self::PercentUnit => "percentunit",
            Self::CurrencyUsd => "currencyUSD",
            Self::Short => "short",
            Self::RequestsPerSecond => "reqps",
            Self::Bytes => "bytes",
        }
    }
}

/// A panel.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Panel {
    /// Plugin id.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Stable id (unique in the dashboard).
    pub id: u32,
    /// The panel's title.
    pub title: String,
    /// What it shows and how to read it.
    pub description: String,
    /// The Prometheus the panel queries.
    pub datasource: DataSourceRef,
    /// Where the panel sits in the grid.
    pub grid_pos: GridPos,
    /// The PromQL queries the panel draws.
    pub targets: Vec<Target>,
    /// Units, thresholds, mappings.
    pub field_config: FieldConfigSource,
    /// Plugin options.
    pub options: Value,
}

/// A PromQL query of a panel.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// `A`, `B`, ...
    pub ref_id: String,
    /// The PromQL expression.
    pub expr: String,
    /// Series legend.
    pub legend_format: String,
    /// `time_series`, `table` or `heatmap`.
    pub format: String,
    /// An instant query (tables, stats of a window).
    pub instant: bool,
    /// A range query.
    pub range: bool,
    /// The Prometheus the query runs against.
    pub datasource: DataSourceRef,
}

/// `fieldConfig`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldConfigSource {
    /// Defaults for every field.
    pub defaults: FieldConfig,
    /// Per-field overrides (none).
    pub overrides: Vec<Value>,
}

/// `fieldConfig.defaults`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldConfig {
    /// Unit id.
    pub unit: String,
    /// Lower bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Decimals shown (Grafana picks when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// The colour steps of the values.
    pub thresholds: Thresholds,
    /// Color mode.
    pub color: FieldColor,
    /// Value mappings (state names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mappings: Vec<Value>,
    /// Plugin-specific field options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
}

/// `color`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldColor {
    /// `palette-classic` or `thresholds`.
    pub mode: String,
}

/// `thresholds`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Thresholds {
    /// `absolute`.
    pub mode: String,
    /// Steps; the first has no value (minus infinity).
    pub steps: Vec<Step>,
}

/// One threshold step.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    /// The step's colour (a Grafana colour name or hex).
    pub color: String,
    /// From this value up (`None`: the base).
    pub value: Option<f64>,
}

impl Thresholds {
    /// Green everywhere.
    pub fn none() -> Self {
        Self::absolute(&[])
    }

    /// Green below the first bound, then the given colors from each bound.
    pub fn absolute(steps: &[(f64, &str)]) -> Self {
        Self::from_base("green", steps)
    }

    /// Red below the first bound (for "higher is better" values), then
    /// the given colors.
    pub fn higher_is_better(steps: &[(f64, &str)]) -> Self {
        Self::from_base("red", steps)
    }

    fn from_base(base: &str, steps: &[(f64, &str)]) -> Self {
        let base = Step {
            color: base.into(),
            value: None,
        };
        let rest = steps.iter().map(|(v, c)| Step {
            color: (*c).into(),
            value: Some(*v),
        });
        Self {
            mode: "absolute".into(),
            steps: std::iter::once(base).chain(rest).collect(),
        }
    }
}
