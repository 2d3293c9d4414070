//! Invalid configuration fails at start, naming the setting and the fix.

use std::{collections::HashMap, time::Duration};

use tta_obs_init::{InitError, ObservabilityConfig, TracesExporter, initialize_observability};

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn invalid(err: InitError) -> (String, String, String) {
    let message = err.to_string();
    match err {
        InitError::InvalidSetting(e) => (e.setting().to_owned(), e.value().to_owned(), message),
        other => panic!("expected an invalid setting, got {other:?}"),
    }
}

#[test]
fn a_malformed_metrics_address_names_the_setting() {
    let (setting, value, message) = invalid(
        ObservabilityConfig::builder("svc")
            .metrics_addr("localhost:9464x")
            .build()
            .unwrap_err(),
    );
    assert_eq!(
        (setting.as_str(), value.as_str()),
        ("metrics_addr", "localhost:9464x")
    );
    assert!(
        message.contains("127.0.0.1:9464"),
        "the fix is in the message: {message}"
    );

    let (setting, _, _) = invalid(
        ObservabilityConfig::from_vars(vars(&[("TTA_METRICS_ADDR", "nine")]), Some("svc"))
            .unwrap_err(),
    );
    assert_eq!(
        setting, "TTA_METRICS_ADDR",
        "from the environment, the variable is named"
    );
}

#[test]
fn a_missing_service_name_and_a_too_short_upkeep_are_refused() {
    let (setting, _, _) = invalid(ObservabilityConfig::from_vars(vars(&[]), None).unwrap_err());
    assert_eq!(setting, "OTEL_SERVICE_NAME");
    let (setting, _, _) = invalid(ObservabilityConfig::builder(" ").build().unwrap_err());
    assert_eq!(setting, "service_name");
    let (setting, value, _) = invalid(
        ObservabilityConfig::builder("svc")
            .upkeep_interval(std::time::Duration::from_millis(1))
            .build()
            .unwrap_err(),
    );
    assert_eq!(
        (setting.as_str(), value.as_str()),
        ("upkeep_interval", "1ms")
    );
}

#[test]
fn the_environment_configures_the_service() {
    let config = ObservabilityConfig::from_vars(
        vars(&[
            ("OTEL_SERVICE_NAME", "orders"),
            ("TTA_METRICS_ADDR", "0.0.0.0:9500"),
        ]),
        Some("fallback"),
    )
    .unwrap();
    assert_eq!(config.service_name(), "orders");
    assert_eq!(config.metrics_addr().unwrap().to_string(), "0.0.0.0:9500");
    let off =
        ObservabilityConfig::from_vars(vars(&[("TTA_METRICS_ADDR", "off")]), Some("svc")).unwrap();
    assert_eq!(off.metrics_addr(), None);
    let default = ObservabilityConfig::builder("svc").build().unwrap();
    assert_eq!(
        default.metrics_addr().unwrap().to_string(),
        "127.0.0.1:9464",
        "loopback by default"
    );
}

#[tokio::test]
async fn a_port_in_use_fails_before_anything_global_changes() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = ObservabilityConfig::builder("svc")
        .metrics_addr(addr.to_string())
        .build()
        .unwrap();
    let err = initialize_observability(config).unwrap_err();
    assert!(
        matches!(
            err,
            InitError::Bind {
                setting: "metrics_addr",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn initialising_outside_a_runtime_says_how_to_fix_it() {
    let config = ObservabilityConfig::builder("svc")
        .without_metrics_endpoint()
        .build()
        .unwrap();
    let err = initialize_observability(config).unwrap_err();
    assert!(matches!(err, InitError::NoRuntime));
    assert!(err.to_string().contains("Tokio runtime"));
}

#[test]
fn samplers_follow_the_specification_and_bad_ones_are_named() {
    for name in [
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] {
        ObservabilityConfig::from_vars(
            vars(&[
                ("OTEL_TRACES_SAMPLER", name),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ]),
            Some("svc"),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let (setting, value, message) = invalid(
        ObservabilityConfig::from_vars(vars(&[("OTEL_TRACES_SAMPLER", "sometimes")]), Some("svc"))
            .unwrap_err(),
    );
    assert_eq!(
        (setting.as_str(), value.as_str()),
        ("OTEL_TRACES_SAMPLER", "sometimes")
    );
    assert!(message.contains("parentbased_traceidratio"), "{message}");
    for arg in ["1.5", "-0.1", "half"] {
        let (setting, value, _) = invalid(
            ObservabilityConfig::from_vars(
                vars(&[
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", arg),
                ]),
                Some("svc"),
            )
            .unwrap_err(),
        );
        assert_eq!(
            (setting.as_str(), value.as_str()),
            ("OTEL_TRACES_SAMPLER_ARG", arg)
        );
    }
}

#[test]
fn otlp_settings_from_the_environment_are_checked_one_by_one() {
    let with = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")];
        pairs.extend_from_slice(extra);
        ObservabilityConfig::from_vars(vars(&pairs), Some("svc"))
    };
    let ok = with(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "authorization=Bearer%20t0ken,x-tenant=acme",
    )])
    .unwrap();
    let debug = format!("{ok:?}");
    assert!(debug.contains("http://collector:4318/v1/traces"), "{debug}");
    let grpc = with(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap();
    let settings = grpc.otlp().unwrap();
    assert_eq!(settings.protocol(), tta_obs_init::OtlpProtocol::Grpc);
    assert_eq!(
        settings.endpoint(),
        "http://collector:4318",
        "a gRPC endpoint is the base URL"
    );
    assert!(
        !debug.contains("t0ken"),
        "header values never show: {debug}"
    );

    // (extra variables, the setting named, the value shown)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "collector:4318",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "ftp://collector",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://")],
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml")],
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/xml",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")],
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "soon",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")],
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "zstd",
        ),
        (
            &[("OTEL_TRACES_EXPORTER", "zipkin")],
            "OTEL_TRACES_EXPORTER",
            "zipkin",
        ),
    ];
    for (extra, setting, value) in cases {
        let (got_setting, got_value, message) = invalid(with(extra).unwrap_err());
        assert_eq!(
            (got_setting.as_str(), got_value.as_str()),
            (*setting, *value),
            "{message}"
        );
    }

    // A malformed header list names the variable and shows no value.
    let (setting, value, message) = invalid(
        with(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20s3cret,broken",
        )])
        .unwrap_err(),
    );
    assert_eq!(setting, "OTEL_EXPORTER_OTLP_HEADERS");
    assert!(
        !value.contains("s3cret") && !message.contains("s3cret"),
        "{message}"
    );
    assert!(value.contains("authorization=***"), "{value}");
    let (_, _, message) =
        invalid(with(&[("OTEL_EXPORTER_OTLP_HEADERS", "x-key=%ZZs3cret")]).unwrap_err());
    assert!(!message.contains("s3cret"), "{message}");

    // Builder: the same checks, the same redaction.
    let err = ObservabilityConfig::builder("svc")
        .otlp_http("not a url", &[])
        .unwrap_err();
    assert!(matches!(&err, InitError::InvalidSetting(e) if e.setting() == "otlp_http"));
    let err = ObservabilityConfig::builder("svc")
        .otlp_http("http://c:4318/v1/traces", &[("bad header", "s3cret")])
        .unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[test]
fn resource_attributes_come_from_the_environment() {
    let config = ObservabilityConfig::from_vars(
        vars(&[
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,deployment.region=eu%2Dwest",
            ),
            ("K8S_POD_NAME", "api-7d9f"),
            ("POD_NAMESPACE", "shop"),
            ("K8S_NODE_NAME", "node-3"),
        ]),
        Some("fallback"),
    )
    .unwrap();
    assert_eq!(
        config.service_name(),
        "from-attrs",
        "service.name from OTEL_RESOURCE_ATTRIBUTES"
    );
    let attrs = config.resource_attributes();
    for (k, v) in [
        ("k8s.pod.name", "api-7d9f"),
        ("k8s.namespace.name", "shop"),
        ("k8s.node.name", "node-3"),
        ("deployment.region", "eu-west"),
    ] {
        assert!(
            attrs.iter().any(|(a, b)| a == k && b == v),
            "{k}={v} missing from {attrs:?}"
        );
    }
    let named = ObservabilityConfig::from_vars(
        vars(&[
            ("OTEL_SERVICE_NAME", "winner"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=loser"),
        ]),
        None,
    )
    .unwrap();
    assert_eq!(
        named.service_name(),
        "winner",
        "OTEL_SERVICE_NAME takes precedence"
    );
    let (setting, value, _) = invalid(
        ObservabilityConfig::from_vars(
            vars(&[("OTEL_RESOURCE_ATTRIBUTES", "a=1,oops")]),
            Some("svc"),
        )
        .unwrap_err(),
    );
    assert_eq!(
        (setting.as_str(), value.as_str()),
        ("OTEL_RESOURCE_ATTRIBUTES", "a=1,oops")
    );
}

#[test]
fn container_ids_are_found_in_cgroup_files() {
    let id = "3f1c6a0be4b2f0d5c9a1e7b8d2c4f6a8e0b1d3c5f7a9e2b4d6c8f0a1b3d5e7f9";
    for cgroup in [
        format!("0::/docker/{id}\n"),
        format!("12:memory:/kubepods/burstable/pod1234/{id}\n"),
        format!("0::/system.slice/docker-{id}.scope\n"),
        format!("0::/kubepods.slice/kubepods-pod12.slice/cri-containerd-{id}.scope\n"),
    ] {
        assert_eq!(
            tta_obs_init::container_id(&cgroup).as_deref(),
            Some(id),
            "{cgroup}"
        );
    }
    assert_eq!(
        tta_obs_init::container_id("0::/user.slice/user-0.slice/session-1.scope\n"),
        None
    );
}

#[test]
fn the_tracing_bridge_level_is_checked() {
    for level in ["off", "error", "warn", "info", "debug", "trace", "true"] {
        ObservabilityConfig::from_vars(vars(&[("TTA_TRACING_BRIDGE", level)]), Some("svc"))
            .unwrap_or_else(|e| panic!("{level}: {e}"));
    }
    let (setting, value, _) = invalid(
        ObservabilityConfig::from_vars(vars(&[("TTA_TRACING_BRIDGE", "loud")]), Some("svc"))
            .unwrap_err(),
    );
    assert_eq!(
        (setting.as_str(), value.as_str()),
        ("TTA_TRACING_BRIDGE", "loud")
    );
}

#[test]
fn pushgateway_settings_are_checked() {
    let every = std::time::Duration::from_secs(10);
    let builder = || ObservabilityConfig::builder("svc");
    assert!(
        builder()
            .pushgateway("http://gateway:9091", "job", every)
            .is_ok()
    );
    for (gateway, job, every) in [
        ("gateway:9091", "job", every),
        ("https://gateway:9091", "job", every),
        ("http://gateway:9091", "", every),
        ("http://gateway:9091", "a/b", every),
        ("http://gateway:9091", "job", std::time::Duration::ZERO),
    ] {
        let err = builder().pushgateway(gateway, job, every).unwrap_err();
        assert!(
            matches!(&err, InitError::InvalidSetting(e) if e.setting() == "pushgateway"),
            "{err}"
        );
    }
    let (setting, value, _) = invalid(
        ObservabilityConfig::from_vars(vars(&[("TTA_PUSHGATEWAY_URL", "ftp://gw")]), Some("svc"))
            .unwrap_err(),
    );
    assert_eq!(
        (setting.as_str(), value.as_str()),
        ("TTA_PUSHGATEWAY_URL", "ftp://gw")
    );
}

#[test]
fn settings_that_would_do_nothing_or_the_wrong_thing_are_refused_or_warned_about() {
    let env = |pairs: &[(&str, &str)]| ObservabilityConfig::from_vars(vars(pairs), Some("svc"));
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");

    // An absurd or zero exporter timeout, from the environment or in code.
    for raw in ["99999999", "0", "60001"] {
        let (setting, value, message) =
            invalid(env(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", raw)]).unwrap_err());
        assert_eq!(setting, "OTEL_EXPORTER_OTLP_TIMEOUT", "{message}");
        assert!(message.contains("60"), "{message}");
        let _ = value;
    }
    assert_eq!(
        env(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000")])
            .unwrap()
            .otlp()
            .unwrap()
            .timeout(),
        Duration::from_secs(60)
    );
    let (setting, _, _) = invalid(
        ObservabilityConfig::builder("svc")
            .otlp_timeout(Duration::from_secs(3600))
            .otlp_http("http://collector:4318/v1/traces", &[])
            .unwrap()
            .build()
            .unwrap_err(),
    );
    assert_eq!(setting, "otlp_timeout");

    // The timeout works in either call order.
    for config in [
        ObservabilityConfig::builder("svc")
            .otlp_timeout(Duration::from_millis(1500))
            .otlp_grpc("http://collector:4317", &[])
            .unwrap(),
        ObservabilityConfig::builder("svc")
            .otlp_grpc("http://collector:4317", &[])
            .unwrap()
            .otlp_timeout(Duration::from_millis(1500)),
    ] {
        let config = config.build().unwrap();
        assert_eq!(
            config.otlp().unwrap().timeout(),
            Duration::from_millis(1500)
        );
    }

    // gRPC: TLS is not built in, binary metadata is not supported, a path
    // or query has no meaning; each refused naming the setting called.
    let grpc = |url: &str, headers: &[(&str, &str)]| {
        invalid(
            ObservabilityConfig::builder("svc")
                .otlp_grpc(url, headers)
                .unwrap_err(),
        )
    };
    let (setting, _, message) = grpc("https://collector:4317", &[]);
    assert_eq!(setting, "otlp_grpc");
    assert!(message.contains("http/protobuf"), "{message}");
    let (setting, value, message) = grpc("http://collector:4317", &[("x-token-bin", "AAEC")]);
    assert_eq!(setting, "otlp_grpc");
    assert!(
        message.contains("-bin") && !value.contains("AAEC"),
        "{message}"
    );
    let (_, _, message) = grpc("http://collector:4317/v1/traces?x=1", &[]);
    assert!(message.contains("without a path or query"), "{message}");
    let grpc_env = [("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
    let (setting, _, _) = invalid(
        env(&[
            grpc_env[0],
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
        ])
        .unwrap_err(),
    );
    assert_eq!(setting, "OTEL_EXPORTER_OTLP_ENDPOINT");
    let (setting, _, _) = invalid(
        env(&[
            grpc_env[0],
            endpoint,
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-token-bin=AAEC"),
        ])
        .unwrap_err(),
    );
    assert_eq!(setting, "OTEL_EXPORTER_OTLP_HEADERS");

    // A base endpoint with a query string: `/v1/traces` goes on the path,
    // the query stays (the spec appends to the path).
    let with_query = env(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://collector:4318/base?tenant=acme",
    )])
    .unwrap();
    assert_eq!(
        with_query.otlp().unwrap().endpoint(),
        "http://collector:4318/base/v1/traces?tenant=acme"
    );

    // Credentials in the URL are refused, not dropped, and not echoed.
    let (setting, value, message) = invalid(
        env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://alice:pa55word@collector:4318",
        )])
        .unwrap_err(),
    );
    assert_eq!(setting, "OTEL_EXPORTER_OTLP_ENDPOINT");
    assert!(message.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{message}");
    assert!(
        !value.contains("pa55word") && !value.contains("alice"),
        "{value}"
    );

    // Settings without the endpoint they need: a warning naming each.
    let config = env(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "5000"),
        ("TTA_PUSHGATEWAY_JOB", "nightly"),
    ])
    .unwrap();
    let warnings = config.warnings().join("\n");
    for variable in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "TTA_PUSHGATEWAY_JOB",
    ] {
        assert!(warnings.contains(variable), "{variable} in {warnings}");
    }
    assert!(!warnings.contains("abc"), "{warnings}");
    let builder_only = ObservabilityConfig::builder("svc")
        .otlp_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(builder_only.warnings()[0].contains("otlp_timeout"));

    // `off` in any case disables the endpoint.
    for off in ["off", "OFF", " Off "] {
        assert_eq!(
            env(&[("TTA_METRICS_ADDR", off)]).unwrap().metrics_addr(),
            None
        );
    }
}

/// The OTLP settings live inside the OTLP choice: an endpoint given and then
/// overridden by another exporter is dropped with a warning naming it, and
/// the timeout applies whichever came first, the endpoint or the timeout.
#[test]
fn otlp_settings_follow_the_exporter_choice_in_any_call_order() {
    use tta_obs_init::TracesExporter;
    let overridden = ObservabilityConfig::builder("svc")
        .otlp_grpc("http://127.0.0.1:4317", &[])
        .unwrap()
        .traces_exporter(TracesExporter::None)
        .build()
        .unwrap();
    assert_eq!(overridden.traces_exporter(), TracesExporter::None);
    assert!(overridden.otlp().is_none());
    assert_eq!(
        overridden.warnings(),
        ["otlp_grpc is set but ignored: traces_exporter is None"]
    );
    let timeout_first = ObservabilityConfig::builder("svc")
        .otlp_timeout(Duration::from_secs(3))
        .otlp_http("http://127.0.0.1:4318/v1/traces", &[])
        .unwrap()
        .build()
        .unwrap();
    let timeout_last = ObservabilityConfig::builder("svc")
        .otlp_http("http://127.0.0.1:4318/v1/traces", &[])
        .unwrap()
        .otlp_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    for config in [timeout_first, timeout_last] {
        assert_eq!(config.otlp().unwrap().timeout(), Duration::from_secs(3));
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    }
}

#[test]
fn the_stdout_exporters_are_chosen_by_name() {
    for (value, exporter) in [
        ("console", TracesExporter::Summary),
        ("tree", TracesExporter::Tree),
        ("none", TracesExporter::None),
    ] {
        let config =
            ObservabilityConfig::from_vars(vars(&[("OTEL_TRACES_EXPORTER", value)]), Some("svc"))
                .unwrap();
        assert_eq!(config.traces_exporter(), exporter, "{value}");
    }
    let config = ObservabilityConfig::builder("svc")
        .traces_exporter(TracesExporter::Tree)
        .build()
        .unwrap();
    assert_eq!(config.traces_exporter(), TracesExporter::Tree);
}

#[test]
fn the_environment_overlays_the_code_and_code_after_it_wins() {
    let base = || {
        ObservabilityConfig::builder("from_code")
            .service_version("1.2.3")
            .environment("dev")
            .traces_exporter(TracesExporter::Tree)
            .metrics_addr("127.0.0.1:0")
    };
    // Nothing set: the code's settings stand.
    let config = base().with_vars(vars(&[])).unwrap().build().unwrap();
    assert_eq!(config.service_name(), "from_code");
    assert_eq!(config.service_version(), "1.2.3");
    assert_eq!(config.traces_exporter(), TracesExporter::Tree);
    assert_eq!(config.metrics_addr().unwrap().ip().to_string(), "127.0.0.1");

    // What the deployment sets replaces it; what it does not set stays.
    let deployed = vars(&[
        ("OTEL_SERVICE_NAME", "from_env"),
        ("TTA_SERVICE_VERSION", "2.0.0"),
        ("TTA_METRICS_ADDR", "0.0.0.0:9464"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.region=eu"),
    ]);
    let config = base()
        .resource_attribute("team", "payments")
        .with_vars(&deployed)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(config.service_name(), "from_env");
    assert_eq!(config.service_version(), "2.0.0");
    assert_eq!(config.metrics_addr().unwrap().to_string(), "0.0.0.0:9464");
    assert_eq!(
        config.traces_exporter(),
        TracesExporter::Tree,
        "not set: the code's"
    );
    let resource = config.resource_attributes();
    assert!(resource.contains(&("team".into(), "payments".into())));
    assert!(resource.contains(&("deployment.region".into(), "eu".into())));

    // A setting made after the overlay wins over the environment.
    let config = base()
        .with_vars(&deployed)
        .unwrap()
        .service_version("3.0.0")
        .without_metrics_endpoint()
        .build()
        .unwrap();
    assert_eq!(config.service_version(), "3.0.0");
    assert_eq!(config.metrics_addr(), None);
}

#[test]
fn environment_otlp_settings_apply_to_the_codes_endpoint_or_replace_it() {
    let code = || {
        ObservabilityConfig::builder("svc")
            .otlp_http("http://collector.internal:4318/v1/traces", &[])
            .unwrap()
    };
    // A timeout from the environment applies to the code's endpoint.
    let config = code()
        .with_vars(vars(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")]))
        .unwrap()
        .build()
        .unwrap();
    let otlp = config.otlp().unwrap();
    assert_eq!(otlp.endpoint(), "http://collector.internal:4318/v1/traces");
    assert_eq!(otlp.timeout(), Duration::from_millis(2500));

    // An endpoint from the environment replaces the code's.
    let config = code()
        .with_vars(vars(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4318/v1/traces",
        )]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        config.otlp().unwrap().endpoint(),
        "http://127.0.0.1:4318/v1/traces"
    );

    // The environment turning export off wins, and says the endpoint is ignored.
    let config = code()
        .with_vars(vars(&[("OTEL_TRACES_EXPORTER", "none")]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(config.traces_exporter(), TracesExporter::None);
    assert!(config.otlp().is_none());
    assert!(
        config
            .warnings()
            .iter()
            .any(|w| w.contains("OTLP endpoint is set but ignored")),
        "{:?}",
        config.warnings()
    );

    // A bad value still names its variable.
    let (setting, ..) = invalid(
        code()
            .with_vars(vars(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")]))
            .unwrap_err(),
    );
    assert_eq!(setting, "OTEL_EXPORTER_OTLP_TIMEOUT");
}

#[test]
fn from_vars_still_needs_a_service_name() {
    let (setting, ..) = invalid(ObservabilityConfig::from_vars(vars(&[]), None).unwrap_err());
    assert_eq!(setting, "OTEL_SERVICE_NAME");
    let config = ObservabilityConfig::from_vars(
        vars(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr_name")]),
        None,
    )
    .unwrap();
    assert_eq!(config.service_name(), "attr_name");
    assert_eq!(config.service_version(), "unknown");
}
