//! Building dashboards: panels laid out left to right, top to bottom, with
//! ids in creation order (stable as long as the code is), rows, template
//! variables and the links between our dashboards.

use serde_json::{Value, json};

use crate::grafana::{
    Annotations, Dashboard, DashboardLink, DataSourceRef, DisplayUnit, FieldColor, FieldConfig,
    FieldConfigSource, GridPos, Panel, PanelKind, PanelOrRow, Row, Target, Templating, Thresholds,
    TimeRange, Variable, VariableOption,
};

/// The tag on every generated dashboard (the dashboard links follow it).
pub const TAG: &str = "tta";

/// The dashboard JSON schema version written (Grafana 11.6).
pub const SCHEMA_VERSION: u32 = 41;

/// A template variable the generator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// The Prometheus datasource.
    Datasource,
    /// The scrape job (one per service).
    Job,
    /// The workflow.
    Workflow,
    /// The primitive.
    Primitive,
    /// The LLM provider.
    Provider,
    /// The LLM model.
    Model,
}

impl Var {
    /// The variable's name, as `$name` in queries.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Datasource => "datasource",
            Self::Job => "job",
            Self::Workflow => "workflow",
            Self::Primitive => "primitive",
            Self::Provider => "provider",
            Self::Model => "model",
        }
    }

    /// The variables this one's query refers to: a dashboard that has this
    /// variable needs them too, or Grafana leaves `$job` as literal text
    /// and the list comes back empty.
    pub const fn depends_on(self) -> &'static [Var] {
        match self {
            Self::Datasource | Self::Job | Self::Provider => &[],
            Self::Workflow => &[Self::Job],
            Self::Primitive => &[Self::Job, Self::Workflow],
            Self::Model => &[Self::Job, Self::Provider],
        }
    }

    fn variable(self) -> Variable {
        let (label, query) = match self {
            Self::Datasource => {
                return Variable {
                    kind: "datasource".into(),
                    name: self.name().into(),
                    label: "Data source".into(),
                    query: "prometheus".into(),
                    datasource: None,
                    refresh: 1,
                    multi: false,
                    include_all: false,
                    all_value: None,
                    sort: 0,
                    current: VariableOption {
                        text: "Prometheus".into(),
                        value: "prometheus".into(),
                    },
                };
            }
            Self::Job => (
                "Job",
                format!(
                    "label_values({}, job)",
                    tta_primitives_obs::catalogue::BUILD_INFO.name
                ),
            ),
            Self::Workflow => (
                "Workflow",
                format!(
                    "label_values({}{{job=~\"$job\"}}, workflow)",
                    tta_primitives_obs::catalogue::PRIMITIVE_EXECUTIONS.name
                ),
            ),
            Self::Primitive => (
                "Primitive",
                format!(
                    "label_values({}{{job=~\"$job\", workflow=~\"$workflow\"}}, primitive)",
                    tta_primitives_obs::catalogue::PRIMITIVE_EXECUTIONS.name
                ),
            ),
            Self::Provider => (
                "Provider",
                format!(
                    "label_values({}{{job=~\"$job\"}}, provider)",
                    tta_langfuse::LLM_REQUESTS.name
                ),
            ),
            Self::Model => (
                "Model",
                format!(
                    "label_values({}{{job=~\"$job\", provider=~\"$provider\"}}, model)",
                    tta_langfuse::LLM_REQUESTS.name
                ),
            ),
        };
        Variable {
            kind: "query".into(),
            name: self.name().into(),
            label: label.into(),
            query,
            datasource: Some(DataSourceRef::prometheus()),
            refresh: 2,
            multi: true,
            include_all: true,
            all_value: Some(".*".into()),
            sort: 1,
            current: VariableOption {
                text: "All".into(),
                value: "$__all".into(),
            },
        }
    }
}

/// One query of a panel.
#[derive(Debug, Clone)]
pub struct Query {
    /// PromQL.
    pub expr: String,
    /// Legend template.
    pub legend: String,
}

/// What a panel shows; [`Board::add`] places it.
#[derive(Debug, Clone)]
pub struct PanelSpec {
    kind: PanelKind,
    title: String,
    description: String,
    unit: DisplayUnit,
    width: u32,
    height: u32,
    queries: Vec<Query>,
    thresholds: Thresholds,
    min: Option<f64>,
    max: Option<f64>,
    instant: bool,
    mappings: Vec<Value>,
}

impl PanelSpec {
    /// A panel of `kind`.
    pub fn new(kind: PanelKind, title: &str, description: &str) -> Self {
        let (width, height) = match kind {
            PanelKind::Stat | PanelKind::Gauge => (6, 5),
            PanelKind::Table | PanelKind::BarGauge => (12, 8),
            _ => (12, 8),
        };
        Self {
            kind,
            title: title.into(),
            description: description.into(),
            unit: DisplayUnit::Short,
            width,
            height,
            queries: Vec::new(),
            thresholds: Thresholds::none(),
            min: None,
            max: None,
            instant: matches!(kind, PanelKind::Table | PanelKind::BarGauge),
            mappings: Vec::new(),
        }
    }

    /// Adds a query.
    pub fn query(mut self, expr: impl Into<String>, legend: &str) -> Self {
        self.queries.push(Query {
            expr: expr.into(),
            legend: legend.into(),
        });
        self
    }

    /// Sets the unit.
    pub fn unit(mut self, unit: DisplayUnit) -> Self {
        self.unit = unit;
        if unit == DisplayUnit::PercentUnit {
            self.min = Some(0.0);
        }
        self
    }

    /// Sets the width (of 24 columns).
    pub fn width(mut self, width: u32) -> Self {
        self.width = width;
        self
    }

    /// Sets the thresholds.
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Sets the value range.
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    /// Maps numeric values to state names (state timelines).
    pub fn states(mut self, states: &[(u32, &str, &str)]) -> Self {
        let mut options = serde_json::Map::new();
        for (value, text, color) in states {
            options.insert(
                value.to_string(),
                json!({"text": text, "color": color, "index": value}),
            );
        }
        self.mappings = vec![json!({"type": "value", "options": options})];
        self
    }

    /// The queries.
    pub fn queries(&self) -> &[Query] {
        &self.queries
    }
}

/// A dashboard under construction.
#[derive(Debug)]
pub struct Board {
    dashboard: Dashboard,
    next_id: u32,
    x: u32,
    y: u32,
    row_height: u32,
}

impl Board {
    /// A dashboard with the `tta` tag, links to the others, and `vars`
    /// (with the variables they depend on, each placed before its first
    /// user, so every variable a query refers to is defined).
    pub fn new(uid: &str, title: &str, description: &str, vars: &[Var]) -> Self {
        let mut ordered: Vec<Var> = vec![Var::Datasource];
        for var in vars {
            for needed in var.depends_on().iter().chain(std::iter::once(var)) {
                if !ordered.contains(needed) {
                    ordered.push(*needed);
                }
            }
        }
        let list = ordered.into_iter().map(Var::variable).collect();
        Self {
            dashboard: Dashboard {
                uid: uid.into(),
                title: title.into(),
                description: description.into(),
                tags: vec![TAG.into()],
                timezone: "browser".into(),
                editable: true,
                graph_tooltip: 1,
                time: TimeRange {
                    from: "now-1h".into(),
                    to: "now".into(),
                },
                refresh: "30s".into(),
                schema_version: SCHEMA_VERSION,
                version: 1,
                templating: Templating { list },
                annotations: Annotations {
                    list: vec![json!({
                        "builtIn": 1,
                        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                        "enable": true,
                        "hide": true,
                        "iconColor": "rgba(0, 211, 255, 1)",
                        "name": "Annotations & Alerts",
                        "type": "dashboard"
                    })],
                },
                links: vec![DashboardLink {
                    title: "tta dashboards".into(),
                    kind: "dashboards".into(),
                    icon: "external link".into(),
                    tooltip: "The other tta dashboards".into(),
                    tags: vec![TAG.into()],
                    as_dropdown: true,
                    target_blank: false,
                    include_vars: true,
                    keep_time: true,
                }],
                panels: Vec::new(),
            },
            next_id: 1,
            x: 0,
            y: 0,
            row_height: 0,
        }
    }

    fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn new_line(&mut self) {
        self.y += self.row_height;
        self.x = 0;
        self.row_height = 0;
    }

    /// Starts a row.
    pub fn row(&mut self, title: &str) -> &mut Self {
        if self.x > 0 {
            self.new_line();
        }
        let id = self.id();
        self.dashboard.panels.push(PanelOrRow::Row(Row {
            kind: "row",
            id,
            title: title.into(),
            collapsed: false,
            grid_pos: GridPos {
                h: 1,
                w: 24,
                x: 0,
                y: self.y,
            },
            panels: Vec::new(),
        }));
        self.y += 1;
        self
    }

    /// Places a panel.
    pub fn add(&mut self, spec: PanelSpec) -> &mut Self {
        if self.x + spec.width > 24 {
            self.new_line();
        }
        let id = self.id();
        let datasource = DataSourceRef::prometheus();
        let format = match spec.kind {
            PanelKind::Heatmap => "heatmap",
            PanelKind::Table => "table",
            _ => "time_series",
        };
        let targets = spec
            .queries
            .iter()
            .enumerate()
            .map(|(i, q)| Target {
                ref_id: ((b'A' + i as u8) as char).to_string(),
                expr: q.expr.clone(),
                legend_format: q.legend.clone(),
                format: format.into(),
                instant: spec.instant,
                range: !spec.instant,
                datasource: datasource.clone(),
            })
            .collect();
        let color_mode = match spec.kind {
            PanelKind::Stat | PanelKind::Gauge | PanelKind::BarGauge | PanelKind::StateTimeline => {
                "thresholds"
            }
            _ => "palette-classic",
        };
        let panel = Panel {
            kind: spec.kind.plugin(),
            id,
            title: spec.title,
            description: spec.description,
            datasource,
            grid_pos: GridPos {
                h: spec.height,
                w: spec.width,
                x: self.x,
                y: self.y,
            },
            targets,
            field_config: FieldConfigSource {
                defaults: FieldConfig {
                    unit: spec.unit.id().into(),
                    min: spec.min,
                    max: spec.max,
                    decimals: None,
                    thresholds: spec.thresholds,
                    color: FieldColor {
                        mode: color_mode.into(),
                    },
                    mappings: spec.mappings,
                    custom: None,
                },
                overrides: Vec::new(),
            },
            options: options(spec.kind),
        };
        self.dashboard
            .panels
            .push(PanelOrRow::Panel(Box::new(panel)));
        self.x += spec.width;
        self.row_height = self.row_height.max(spec.height);
        if self.x >= 24 {
            self.new_line();
        }
        self
    }

    /// The finished dashboard.
    pub fn finish(self) -> Dashboard {
        self.dashboard
    }
}

fn options(kind: PanelKind) -> Value {
    match kind {
        PanelKind::TimeSeries => json!({
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true},
            "tooltip": {"mode": "multi", "sort": "desc"}
        }),
        PanelKind::Stat => json!({
            "colorMode": "value", "graphMode": "area", "justifyMode": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "textMode": "auto"
        }),
        PanelKind::Gauge => json!({
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "showThresholdLabels": false, "showThresholdMarkers": true
        }),
        PanelKind::BarGauge => json!({
            "displayMode": "gradient", "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "showUnfilled": true
        }),
        PanelKind::Table => json!({"showHeader": true, "cellHeight": "sm"}),
        PanelKind::Heatmap => json!({
            "calculate": false,
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "yAxis": {"unit": "s"},
            "rowsFrame": {"layout": "le"},
            "tooltip": {"mode": "single", "yHistogram": true}
        }),
        PanelKind::StateTimeline => json!({
            "mergeValues": true, "showValue": "auto", "alignValue": "left", "rowHeight": 0.9,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true}
        }),
    }
}
