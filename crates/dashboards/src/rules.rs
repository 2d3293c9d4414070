//! Prometheus rules: SLI recording rules with the multi-window burn rates,
//! and the alerts, each with its runbook section and a `promtool test
//! rules` case that fires it and one that does not.

use std::collections::BTreeMap;

use serde::Serialize;
use tta_langfuse::LLM_COST;
use tta_primitives_obs::catalogue as c;

use crate::config::{AlertConfig, Objective};

/// The rule files' names under `deploy/prometheus/rules/`.
pub const RECORDING_FILE: &str = "tta-slo-recording.yml";
/// The alerts file.
pub const ALERTS_FILE: &str = "tta-alerts.yml";

/// A rule file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleFile {
    /// The rule groups, as Prometheus loads them.
    pub groups: Vec<RuleGroup>,
}

/// A rule group.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleGroup {
    /// The group's name.
    pub name: String,
    /// Evaluation interval.
    pub interval: String,
    /// The recording and alerting rules of the group.
    pub rules: Vec<Rule>,
}

/// A recording or alerting rule.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rule {
    /// Recorded series name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Alert name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// PromQL.
    pub expr: String,
    /// How long the condition must hold.
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// Extra labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations (alerts).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The two SLIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sli {
    /// Executions that did not fail.
    Availability,
    /// Executions faster than the threshold.
    Latency,
}

impl Sli {
    /// The `slo` label value.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Availability => "availability",
            Self::Latency => "latency",
        }
    }

    /// For titles.
    pub const fn title(self) -> &'static str {
        match self {
            Self::Availability => "Availability",
            Self::Latency => "Latency",
        }
    }
}

/// The windows the burn-rate alerts read, and the 30-day budget window.
pub const WINDOWS: &[&str] = &["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"];

/// Names of the recorded series.
pub mod names {
    use super::Sli;

    /// The objective of each SLO (`workflow`, `slo` labels).
    pub const OBJECTIVE: &str = "tta:slo_objective:ratio";

    /// The bad-event ratio of `sli` over `window`.
    pub fn error_ratio(sli: Sli, window: &str) -> String {
        format!("tta:slo_{}_errors:ratio_rate{window}", sli.label())
    }
}

/// The multi-window, multi-burn-rate pairs (Google SRE workbook): factor,
/// short window, long window.
const PAGE: [(f64, &str, &str); 2] = [(14.4, "5m", "1h"), (6.0, "30m", "6h")];
const TICKET: [(f64, &str, &str); 2] = [(3.0, "2h", "1d"), (1.0, "6h", "3d")];

fn record(name: String, expr: String, labels: &[(&str, &str)]) -> Rule {
    Rule {
        record: Some(name),
        alert: None,
        expr,
        for_: None,
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        annotations: BTreeMap::new(),
    }
}

/// `le` bound as the exporter writes it (`0.5`, `1`), matching `1.0` too.
fn le_matcher(bound: f64) -> String {
    format!("le=~\"{bound}(\\\\.0)?\"")
}

/// The SLI recording rules of every objective.
pub fn recording_rules(config: &AlertConfig) -> RuleFile {
    let exec = c::PRIMITIVE_EXECUTIONS.name;
    let mut groups = Vec::new();
    for o in &config.slo {
        let wf = format!("workflow=\"{}\", primitive_type=\"workflow\"", o.workflow);
        let mut rules = vec![
            record(
                names::OBJECTIVE.into(),
                format!("vector({})", o.availability_target),
                &[("workflow", &o.workflow), ("slo", "availability")],
            ),
            record(
                names::OBJECTIVE.into(),
                format!("vector({})", o.latency_target),
                &[("workflow", &o.workflow), ("slo", "latency")],
            ),
        ];
        for window in WINDOWS {
            let total = format!("sum by (workflow) (rate({exec}{{{wf}}}[{window}]))");
            rules.push(record(
                names::error_ratio(Sli::Availability, window),
                format!(
                    "(sum by (workflow) (rate({exec}{{{wf}, outcome=\"error\"}}[{window}])) or 0 * {total}) / {total}"
                ),
                &[],
            ));
            rules.push(record(
                names::error_ratio(Sli::Latency, window),
                format!(
                    "1 - sum by (workflow) (rate({}_bucket{{{wf}, {}}}[{window}])) / sum by (workflow) (rate({}_count{{{wf}}}[{window}]))",
                    c::PRIMITIVE_DURATION.name,
                    le_matcher(o.latency_threshold_seconds),
                    c::PRIMITIVE_DURATION.name,
                ),
                &[],
            ));
        }
        groups.push(RuleGroup {
            name: format!("tta-slo-{}", o.workflow),
            interval: "30s".into(),
            rules,
        });
    }
    RuleFile { groups }
}

/// One input series of a promtool test: selector and values.
pub type Series = (String, String);

/// A promtool case: input series, when to evaluate, the alerts expected
/// then (label sets; empty: none).
#[derive(Debug, Clone)]
pub struct Case {
    /// Input series (1-minute interval).
    pub series: Vec<Series>,
    /// Evaluation time (`2h`).
    pub eval_time: String,
    /// Expected alerts' labels (`alertname` excluded).
    pub expect: Vec<BTreeMap<String, String>>,
}

/// An alert with its runbook and its tests.
#[derive(Debug, Clone)]
pub struct Alert {
    /// The rule.
    pub rule: Rule,
    /// Runbook: what it means, what to check (Markdown).
    pub runbook: String,
    /// A case where it fires.
    pub firing: Case,
    /// A case where it does not.
    pub quiet: Case,
}

impl Alert {
    /// The alert name.
    pub fn name(&self) -> &str {
        self.rule.alert.as_deref().unwrap_or_default()
    }
}

#[allow(clippy::too_many_arguments)]
fn alert(
    config: &AlertConfig,
    name: &str,
    expr: String,
    for_: &str,
    severity: &str,
    extra: &[(&str, &str)],
    summary: &str,
    description: &str,
) -> Rule {
    let mut labels: BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    labels.insert("severity".into(), severity.into());
    let annotations = BTreeMap::from([
        ("summary".to_owned(), summary.to_owned()),
        ("description".to_owned(), description.to_owned()),
        (
            "runbook_url".to_owned(),
            format!("{}#{}", config.runbook_base_url, name.to_lowercase()),
        ),
    ]);
    Rule {
        record: None,
        alert: Some(name.into()),
        expr,
        for_: Some(for_.into()),
        labels,
        annotations,
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

fn exec_series(workflow: &str, outcome: &str, per_minute: u32, minutes: u32) -> Series {
    let error_type = match outcome {
        "error" => "boom",
        "expected" => "not_found",
        _ => "",
    };
    (
        format!(
            "{}{{job=\"app\", workflow=\"{workflow}\", primitive=\"{workflow}\", primitive_type=\"workflow\", outcome=\"{outcome}\", error_type=\"{error_type}\"}}",
            c::PRIMITIVE_EXECUTIONS.name
        ),
        format!("0+{per_minute}x{minutes}"),
    )
}

fn latency_series(workflow: &str, le: f64, fast: u32, total: u32, minutes: u32) -> Vec<Series> {
    let base = format!(
        "workflow=\"{workflow}\", primitive=\"{workflow}\", primitive_type=\"workflow\", outcome=\"success\""
    );
    vec![
        (
            format!(
                "{}_bucket{{{base}, le=\"{le}\"}}",
                c::PRIMITIVE_DURATION.name
            ),
            format!("0+{fast}x{minutes}"),
        ),
        (
            format!("{}_count{{{base}}}", c::PRIMITIVE_DURATION.name),
            format!("0+{total}x{minutes}"),
        ),
    ]
}

/// The SLO burn-rate alerts of one objective.
fn slo_alerts(config: &AlertConfig, o: &Objective) -> Vec<Alert> {
    let mut out = Vec::new();
    for sli in [Sli::Availability, Sli::Latency] {
        for (kind, severity, pairs, for_) in [
            ("Page", "page", PAGE, "2m"),
            ("Ticket", "ticket", TICKET, "15m"),
        ] {
            out.push(burn_rate_alert(
                config, o, sli, kind, severity, &pairs, for_,
            ));
        }
    }
    out
}

/// One multi-window burn-rate alert of an objective's SLI: `Page` (fast
/// burn) or `Ticket` (slow burn), with its runbook and its firing and quiet
/// test cases.
fn burn_rate_alert(
    config: &AlertConfig,
    o: &Objective,
    sli: Sli,
    kind: &str,
    severity: &str,
    pairs: &[(f64, &str, &str); 2],
    for_: &str,
) -> Alert {
    let target = match sli {
        Sli::Availability => o.availability_target,
        Sli::Latency => o.latency_target,
    };
    let budget = 1.0 - target;
    let expr = pairs
        .iter()
        .map(|(factor, short, long)| {
            let limit = round(factor * budget);
            format!(
                "({short_s}{{workflow=\"{w}\"}} > {limit} and {long_s}{{workflow=\"{w}\"}} > {limit})",
                short_s = names::error_ratio(sli, short),
                long_s = names::error_ratio(sli, long),
                w = o.workflow,
            )
        })
        .collect::<Vec<_>>()
        .join(" or ");
    let name = format!("Tta{}BudgetBurn{kind}", sli.title());
    let what = match sli {
        Sli::Availability => "errors",
        Sli::Latency => "slow executions",
    };
    let rule = alert(
        config,
        &name,
        expr,
        for_,
        severity,
        &[("slo", sli.label())],
        &format!(
            "Workflow {{{{ $labels.workflow }}}} is burning its {} error budget too fast",
            sli.label()
        ),
        &format!(
            "The {} SLO of {{{{ $labels.workflow }}}} ({:.2} % good) is burning its 30-day budget at over {}x in both a short and a long window: {what} are well above the objective.",
            sli.label(),
            target * 100.0,
            pairs[1].0.min(pairs[0].0),
        ),
    );
    // Firing: bad ratio above the larger burn factor; quiet: well
    // under the objective. Ticket cases need a day of data.
    let (minutes, bad_share) = match kind {
        "Page" => (150, (pairs[0].0 * budget * 1.3).min(0.95)),
        _ => (26 * 60, (pairs[0].0 * budget * 1.3).min(0.95)),
    };
    let quiet_share = budget * 0.2;
    let case = |share: f64| sli_series(o, sli, share, minutes);
    let eval_time = format!("{minutes}m");
    let expected = labels(&[
        ("severity", severity),
        ("slo", sli.label()),
        ("workflow", &o.workflow),
    ]);
    Alert {
        runbook: burn_rate_runbook(sli, kind),
        firing: Case {
            series: case(bad_share),
            eval_time: eval_time.clone(),
            expect: vec![expected],
        },
        quiet: Case {
            series: case(quiet_share),
            eval_time,
            expect: Vec::new(),
        },
        rule,
    }
}

/// Test series for an objective's SLI: `share` of 1000 executions a minute
/// bad (failed, or slower than the threshold), for `minutes`.
fn sli_series(o: &Objective, sli: Sli, share: f64, minutes: u32) -> Vec<Series> {
    let bad = (share * 1000.0).round() as u32;
    match sli {
        // Half of the good executions end with an expected error (a
        // not-found): served, so they never burn the budget.
        Sli::Availability => vec![
            exec_series(&o.workflow, "success", (1000 - bad).div_ceil(2), minutes),
            exec_series(&o.workflow, "expected", (1000 - bad) / 2, minutes),
            exec_series(&o.workflow, "error", bad, minutes),
        ],
        Sli::Latency => latency_series(
            &o.workflow,
            o.latency_threshold_seconds,
            1000 - bad,
            1000,
            minutes,
        ),
    }
}

/// The runbook of a burn-rate alert.
fn burn_rate_runbook(sli: Sli, kind: &str) -> String {
    format!(
        "The {} SLO of the workflow burns its error budget {}. {}\n\n\
         1. Open the SLO dashboard (`tta / SLO`) and the overview for the workflow: which window is high, since when.\n\
         2. `curl -s localhost:9090/api/v1/query --data-urlencode 'query={}'` shows the current bad ratio per workflow.\n\
         3. Drill down with `tta / Primitive drill-down` (errors by type, slowest primitives) to find the step at fault; check recent deploys and dependencies.",
        sli.label(),
        if kind == "Page" {
            "fast enough to exhaust it within days: act now"
        } else {
            "steadily: it will be exhausted before the 30-day window ends"
        },
        match sli {
            Sli::Availability => "Executions are failing.",
            Sli::Latency => "Executions are slower than the threshold.",
        },
        names::error_ratio(sli, "5m"),
    )
}

fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Every alert, with its runbook and tests: each objective's SLO alerts,
/// then one of each kind below.
pub fn alerts(config: &AlertConfig) -> Vec<Alert> {
    let mut out: Vec<Alert> = config
        .slo
        .iter()
        .flat_map(|o| slo_alerts(config, o))
        .collect();
    out.extend([
        error_ratio(config),
        latency_p99(config),
        breaker_open(config),
        cache_hit_ratio_drop(config),
        llm_cost_over_budget(config),
        telemetry_dropping_spans(config),
        target_down(config),
    ]);
    out
}

/// `TtaHighErrorRatio`: the workflows' error ratio over the configured threshold.
fn error_ratio(config: &AlertConfig) -> Alert {
    let exec = c::PRIMITIVE_EXECUTIONS.name;
    let e = config.error_ratio_threshold;
    Alert {
        rule: alert(
            config,
            "TtaHighErrorRatio",
            format!(
                "sum by (job, workflow) (rate({exec}{{primitive_type=\"workflow\", outcome=\"error\"}}[5m])) / sum by (job, workflow) (rate({exec}{{primitive_type=\"workflow\"}}[5m])) > {e}"
            ),
            "10m",
            "warning",
            &[],
            "Workflow {{ $labels.workflow }} fails too often",
            &format!(
                "More than {:.1} % of the executions of {{{{ $labels.workflow }}}} ({{{{ $labels.job }}}}) failed over the last 5 minutes, for 10 minutes.",
                e * 100.0
            ),
        ),
        runbook: format!(
            "Executions of the workflow fail more than the configured ratio.\n\n\
             1. `tta / Primitive drill-down` → *Errors by type*: which primitive fails and with which error type.\n\
             2. `curl -s localhost:9090/api/v1/query --data-urlencode 'query=topk(5, sum by (primitive, error_type) (rate({exec}{{outcome=\"error\"}}[5m])))'`.\n\
             3. Look at a failing trace in the trace backend (filter on `error.type`)."
        ),
        firing: Case {
            series: vec![
                exec_series("checkout", "success", 80, 30),
                exec_series("checkout", "error", 20, 30),
            ],
            eval_time: "30m".into(),
            expect: vec![labels(&[
                ("severity", "warning"),
                ("job", "app"),
                ("workflow", "checkout"),
            ])],
        },
        // Expected errors (a not-found, a rejected input) are not failures:
        // 40 % of them leave the alert quiet.
        quiet: Case {
            series: vec![
                exec_series("checkout", "success", 59, 30),
                exec_series("checkout", "expected", 40, 30),
                exec_series("checkout", "error", 1, 30),
            ],
            eval_time: "30m".into(),
            expect: Vec::new(),
        },
    }
}

/// `TtaHighLatencyP99`: a node's p99 latency over the configured bound.
fn latency_p99(config: &AlertConfig) -> Alert {
    let p99 = config.p99_latency_seconds;
    let duration = c::PRIMITIVE_DURATION.name;
    let hist = |le: &str, per_minute: u32| -> Series {
        (
            format!(
                "{duration}_bucket{{job=\"app\", workflow=\"checkout\", primitive=\"checkout\", primitive_type=\"workflow\", outcome=\"success\", le=\"{le}\"}}"
            ),
            format!("0+{per_minute}x30"),
        )
    };
    Alert {
        rule: alert(
            config,
            "TtaHighLatencyP99",
            format!(
                "histogram_quantile(0.99, sum by (job, workflow, le) (rate({duration}_bucket{{primitive_type=\"workflow\"}}[5m]))) > {p99}"
            ),
            "10m",
            "warning",
            &[],
            "Workflow {{ $labels.workflow }} is slow",
            &format!("The 99th percentile duration of {{{{ $labels.workflow }}}} ({{{{ $labels.job }}}}) has been above {p99} s for 10 minutes."),
        ),
        runbook: "The slowest executions of the workflow take longer than the configured p99.\n\n\
                  1. `tta / Primitive drill-down` → *Slowest primitives (p99)* and the latency heatmap.\n\
                  2. Check timeouts and retries in `tta / Resilience`: retries multiply latency.\n\
                  3. Open a slow trace in the trace backend (sort by duration)."
            .into(),
        firing: Case {
            series: vec![hist("1", 50), hist("10", 100), hist("+Inf", 100)],
            eval_time: "30m".into(),
            expect: vec![labels(&[("severity", "warning"), ("job", "app"), ("workflow", "checkout")])],
        },
        quiet: Case {
            series: vec![hist("1", 100), hist("10", 100), hist("+Inf", 100)],
            eval_time: "30m".into(),
            expect: Vec::new(),
        },
    }
}

/// `TtaCircuitBreakerOpen`: a circuit breaker that stays open.
fn breaker_open(config: &AlertConfig) -> Alert {
    let state = |open: &str| -> Series {
        (
            format!(
                "{}{{job=\"app\", primitive=\"payments_breaker\", state=\"open\"}}",
                c::BREAKER_STATE.name
            ),
            format!("{open}x30"),
        )
    };
    Alert {
        rule: alert(
            config,
            "TtaCircuitBreakerOpen",
            format!(
                "max by (job, primitive) ({}{{state=\"open\"}}) == 1",
                c::BREAKER_STATE.name
            ),
            "2m",
            "warning",
            &[],
            "Circuit breaker {{ $labels.primitive }} is open",
            "The circuit breaker {{ $labels.primitive }} ({{ $labels.job }}) has been open for 2 minutes: calls to what it protects are rejected or served by a fallback.",
        ),
        runbook: format!(
            "A circuit breaker stays open: the dependency behind it keeps failing.\n\n\
                  1. `tta / Resilience` → *Breaker state* and *Rejected calls*.\n\
                  2. Check the protected dependency's health; the breaker closes by itself after successful half-open probes.\n\
                  3. `curl -s localhost:9090/api/v1/query --data-urlencode 'query={}'` shows how often it flaps.",
            c::BREAKER_TRANSITIONS.name
        ),
        firing: Case {
            series: vec![state("1+0")],
            eval_time: "10m".into(),
            expect: vec![labels(&[
                ("severity", "warning"),
                ("job", "app"),
                ("primitive", "payments_breaker"),
            ])],
        },
        quiet: Case {
            series: vec![state("0+0")],
            eval_time: "10m".into(),
            expect: Vec::new(),
        },
    }
}

/// `TtaCacheHitRatioDrop`: a cache whose hit ratio dropped against the hour before.
fn cache_hit_ratio_drop(config: &AlertConfig) -> Alert {
    let requests = c::CACHE_REQUESTS.name;
    let drop = config.cache_hit_ratio_drop;
    let ratio = |window: &str| {
        format!(
            "(sum by (job, primitive) (rate({requests}{{result=\"hit\"}}[{window}])) / sum by (job, primitive) (rate({requests}[{window}])))"
        )
    };
    let cache = |hits: &str, misses: &str| -> Vec<Series> {
        vec![
            (
                format!("{requests}{{job=\"app\", primitive=\"prices\", result=\"hit\"}}"),
                hits.into(),
            ),
            (
                format!("{requests}{{job=\"app\", primitive=\"prices\", result=\"miss\"}}"),
                misses.into(),
            ),
        ]
    };
    Alert {
        rule: alert(
            config,
            "TtaCacheHitRatioDrop",
            format!("{} < {drop} * {} and sum by (job, primitive) (rate({requests}[15m])) > 0", ratio("15m"), ratio("1d")),
            "15m",
            "warning",
            &[],
            "Cache {{ $labels.primitive }} hit ratio dropped",
            &format!("The hit ratio of cache {{{{ $labels.primitive }}}} ({{{{ $labels.job }}}}) over 15 minutes is below {:.0} % of its daily ratio: more calls reach what it protects.", drop * 100.0),
        ),
        runbook: "A cache serves far fewer hits than usual.\n\n\
                  1. `tta / Cache` → *Hit ratio* and *Evictions* (capacity evictions mean the cache is too small; expirations, a TTL too short).\n\
                  2. A change of keys (new request shapes) also lowers the ratio: compare *Lookups* by result.\n\
                  3. Check the load on the dependency behind the cache."
            .into(),
        firing: Case {
            // A day at 90 % hits, then an hour at 20 %.
            series: cache("0+90x1440 129600+20x60", "0+10x1440 14400+80x60"),
            eval_time: "1500m".into(),
            expect: vec![labels(&[("severity", "warning"), ("job", "app"), ("primitive", "prices")])],
        },
        quiet: Case {
            series: cache("0+90x1500", "0+10x1500"),
            eval_time: "1500m".into(),
            expect: Vec::new(),
        },
    }
}

/// `TtaLlmCostOverBudget`: lLM spending over the hourly budget.
fn llm_cost_over_budget(config: &AlertConfig) -> Alert {
    let budget = config.llm_cost_budget_usd_per_hour;
    let cost = |per_minute: f64| -> Series {
        (
            format!(
                "{}_sum{{job=\"app\", provider=\"openai\", model=\"gpt-4o\"}}",
                LLM_COST.name
            ),
            format!("0+{per_minute}x120"),
        )
    };
    Alert {
        rule: alert(
            config,
            "TtaLlmCostOverBudget",
            format!("sum by (job) (rate({}_sum[1h])) * 3600 > {budget}", LLM_COST.name),
            "15m",
            "warning",
            &[],
            "LLM spend of {{ $labels.job }} is over budget",
            &format!("{{{{ $labels.job }}}} has spent more than {budget} USD per hour on LLM calls over the last hour, for 15 minutes."),
        ),
        runbook: "LLM spend exceeds the configured hourly budget.\n\n\
                  1. `tta / LLM` → *Cost per model* and *Tokens per second by type*: which model, and whether input or output tokens grew.\n\
                  2. A prompt that grew (input tokens) or a loop calling the model (requests) are the usual causes.\n\
                  3. Check *Unpriced calls*: spend on unpriced models is not counted."
            .into(),
        firing: Case {
            series: vec![cost(budget / 60.0 * 2.0)],
            eval_time: "100m".into(),
            expect: vec![labels(&[("severity", "warning"), ("job", "app")])],
        },
        quiet: Case {
            series: vec![cost(budget / 60.0 / 4.0)],
            eval_time: "100m".into(),
            expect: Vec::new(),
        },
    }
}

/// `TtaTelemetryDroppingSpans`: the telemetry pipeline dropping spans.
fn telemetry_dropping_spans(config: &AlertConfig) -> Alert {
    let dropped = |per_minute: u32| -> Series {
        (
            format!(
                "{}{{job=\"app\", exporter=\"otlp\", reason=\"queue_full\"}}",
                c::SPANS_DROPPED.name
            ),
            format!("0+{per_minute}x40"),
        )
    };
    Alert {
        rule: alert(
            config,
            "TtaTelemetryDroppingSpans",
            format!("sum by (job, exporter, reason) (rate({}[5m])) > 0", c::SPANS_DROPPED.name),
            "10m",
            "warning",
            &[],
            "{{ $labels.job }} drops spans ({{ $labels.exporter }}: {{ $labels.reason }})",
            "The telemetry pipeline of {{ $labels.job }} has been dropping spans for 10 minutes: traces are incomplete.",
        ),
        runbook: "Spans are dropped instead of exported.\n\n\
                  1. `tta / Telemetry pipeline` → *Spans dropped* by reason: `queue_full` (the collector is slow or the queue too small), `export_failed` or `timeout` (the collector is unreachable).\n\
                  2. `curl -s localhost:9464/healthz` shows the exporter's last error.\n\
                  3. Check the collector: `curl -s localhost:13133/` (health) and its logs."
            .into(),
        firing: Case {
            series: vec![dropped(5)],
            eval_time: "30m".into(),
            expect: vec![labels(&[("severity", "warning"), ("job", "app"), ("exporter", "otlp"), ("reason", "queue_full")])],
        },
        quiet: Case {
            series: vec![dropped(0)],
            eval_time: "30m".into(),
            expect: Vec::new(),
        },
    }
}

/// `TtaTargetDown`: a scrape target that is down.
fn target_down(config: &AlertConfig) -> Alert {
    let up = |v: &str| -> Series {
        (
            "up{job=\"app\", instance=\"127.0.0.1:9464\"}".into(),
            format!("{v}x20"),
        )
    };
    Alert {
        rule: alert(
            config,
            "TtaTargetDown",
            "up == 0".into(),
            "2m",
            "critical",
            &[],
            "Target {{ $labels.instance }} of {{ $labels.job }} is down",
            "Prometheus cannot scrape {{ $labels.instance }} ({{ $labels.job }}): the service is down or its metrics endpoint is unreachable.",
        ),
        runbook: "Prometheus cannot scrape a target.\n\n\
                  1. `curl -s http://<instance>/metrics | head` from the Prometheus host: does the endpoint answer?\n\
                  2. `cargo xtask stack-status` checks the app's /metrics and /healthz and Prometheus's view of the target.\n\
                  3. The Prometheus UI (Status → Targets) shows the scrape error."
            .into(),
        firing: Case {
            series: vec![up("0+0")],
            eval_time: "10m".into(),
            expect: vec![labels(&[("severity", "critical"), ("job", "app"), ("instance", "127.0.0.1:9464")])],
        },
        quiet: Case {
            series: vec![up("1+0")],
            eval_time: "10m".into(),
            expect: Vec::new(),
        },
    }
}

/// The alerts file.
pub fn alert_rules(config: &AlertConfig) -> RuleFile {
    let all = alerts(config);
    let mut groups: Vec<RuleGroup> = Vec::new();
    let mut slo = Vec::new();
    let mut other = Vec::new();
    for a in all {
        if a.rule.labels.contains_key("slo") {
            slo.push(a.rule);
        } else {
            other.push(a.rule);
        }
    }
    if !slo.is_empty() {
        groups.push(RuleGroup {
            name: "tta-slo-alerts".into(),
            interval: "30s".into(),
            rules: slo,
        });
    }
    groups.push(RuleGroup {
        name: "tta-alerts".into(),
        interval: "30s".into(),
        rules: other,
    });
    RuleFile { groups }
}

/// The runbooks page, one section per alert (the alerts link to them).
pub fn runbooks(config: &AlertConfig) -> String {
    let mut out = String::from(
        "# Runbooks\n\n<!-- Generated by tta-dashboards from the metric catalogue and the SLO file; do not edit. -->\n\n\
         One section per alert of `deploy/prometheus/rules/`; each alert's `runbook_url` points here.\n",
    );
    let mut seen = std::collections::BTreeSet::new();
    for a in alerts(config) {
        if !seen.insert(a.name().to_owned()) {
            continue;
        }
        let summary = a
            .rule
            .annotations
            .get("summary")
            .cloned()
            .unwrap_or_default();
        out.push_str(&format!(
            "\n## {}\n\nSeverity: {}. Fires when: `{}` holds for {}.\n\n*{}*\n\n{}\n",
            a.name(),
            a.rule
                .labels
                .get("severity")
                .map(String::as_str)
                .unwrap_or("warning"),
            if a.rule.labels.contains_key("slo") {
                "the burn-rate condition"
            } else {
                a.rule.expr.as_str()
            },
            a.rule.for_.as_deref().unwrap_or("0m"),
            summary.replace("{{ $labels.", "<").replace(" }}", ">"),
            a.runbook
        ));
    }
    out
}
