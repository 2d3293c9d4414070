//! Bad input gets a clear error naming the field; keys never show.

use tta_langfuse::{LangfuseConfig, ModelPrice, PriceError, PriceTable, Usage};

const SECRET: &str = "sk-lf-very-secret-0123";

fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn missing_keys_name_the_variable() {
    let err = LangfuseConfig::from_vars(vars(&[("LANGFUSE_SECRET_KEY", SECRET)])).unwrap_err();
    assert!(err.to_string().contains("LANGFUSE_PUBLIC_KEY"), "{err}");
    let err = LangfuseConfig::from_vars(vars(&[
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", " "),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("LANGFUSE_SECRET_KEY"), "{err}");
}

#[test]
fn hosts_come_from_base_url_then_host_then_the_default() {
    let keys = [
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", SECRET),
    ];
    let config = LangfuseConfig::from_vars(vars(&keys)).unwrap();
    assert_eq!(config.host(), "https://cloud.langfuse.com");
    let with_host = [
        keys[0],
        keys[1],
        ("LANGFUSE_HOST", "http://langfuse.internal:3000/"),
    ];
    assert_eq!(
        LangfuseConfig::from_vars(vars(&with_host))
            .unwrap()
            .ingestion_url(),
        "http://langfuse.internal:3000/api/public/ingestion"
    );
    let both = [
        with_host[0],
        with_host[1],
        with_host[2],
        ("LANGFUSE_BASE_URL", "https://us.cloud.langfuse.com"),
    ];
    assert_eq!(
        LangfuseConfig::from_vars(vars(&both))
            .unwrap()
            .otlp_traces_url(),
        "https://us.cloud.langfuse.com/api/public/otel/v1/traces"
    );
}

#[test]
fn malformed_hosts_name_the_setting_and_never_echo_credentials() {
    let keys = [
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", SECRET),
    ];
    for (setting, value, expect) in [
        ("LANGFUSE_HOST", "langfuse.internal:3000", "LANGFUSE_HOST"),
        (
            "LANGFUSE_BASE_URL",
            "ftp://langfuse.internal",
            "http or https",
        ),
        ("LANGFUSE_BASE_URL", "http://", "LANGFUSE_BASE_URL"),
        (
            "LANGFUSE_BASE_URL",
            "https://cloud.langfuse.com?x=1",
            "query",
        ),
    ] {
        let pairs = [keys[0], keys[1], (setting, value)];
        let err = LangfuseConfig::from_vars(vars(&pairs)).unwrap_err();
        assert!(err.to_string().contains(expect), "{value}: {err}");
        assert!(err.to_string().contains(setting), "{value}: {err}");
    }
    let err = LangfuseConfig::new(
        "pk",
        SECRET,
        format!("https://pk:{SECRET}@cloud.langfuse.com"),
    )
    .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("credentials"), "{shown}");
}

#[test]
fn keys_never_appear_in_debug_output() {
    let config = LangfuseConfig::new("pk-lf-public-1", SECRET, "http://127.0.0.1:3000").unwrap();
    let debug = format!("{config:?}");
    assert!(
        !debug.contains(SECRET) && !debug.contains("pk-lf-public-1"),
        "{debug}"
    );
    assert!(debug.contains("127.0.0.1:3000"));
    let exporter = config.otlp_span_exporter().unwrap();
    assert!(!format!("{exporter:?}").contains(SECRET));
}

#[test]
fn price_files_name_unknown_fields_and_negative_prices() {
    let err =
        PriceTable::from_toml_str("[models.\"gpt-x\"]\ninput = 1.0\noutput = 2.0\ncached = 0.5\n")
            .unwrap_err();
    assert!(matches!(err, PriceError::Parse { .. }));
    assert!(err.to_string().contains("cached"), "{err}");
    assert!(
        err.to_string().contains("cached_input"),
        "the error lists the known fields: {err}"
    );

    let err =
        PriceTable::from_toml_str("[models.\"gpt-x\"]\ninput = -1.0\noutput = 2.0\n").unwrap_err();
    assert!(err.to_string().contains("models.\"gpt-x\".input"), "{err}");

    let err =
        PriceTable::from_json_str(r#"{"models":{"m":{"input":1,"output":-0.5}}}"#).unwrap_err();
    assert!(err.to_string().contains("models.\"m\".output"), "{err}");
    let err = PriceTable::from_json_str(r#"{"model":{}}"#).unwrap_err();
    assert!(err.to_string().contains("model"), "{err}");

    assert!(ModelPrice::new(1.0, f64::NAN).is_err());
    assert!(
        ModelPrice::new(1.0, 1.0)
            .unwrap()
            .with_cached_input(-0.1)
            .is_err()
    );
}

#[test]
fn price_files_load_from_disk_in_both_formats() {
    let dir = std::env::temp_dir().join(format!("tta-prices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("prices.toml");
    std::fs::write(
        &toml,
        "[models.\"acme-large\"]\ninput = 3.0\noutput = 9.0\ncached_input = 1.0\n",
    )
    .unwrap();
    let json = dir.join("prices.json");
    std::fs::write(
        &json,
        r#"{"models":{"acme-small":{"input":0.5,"output":1.5}}}"#,
    )
    .unwrap();
    let mut prices = PriceTable::load(&toml).unwrap();
    prices.extend(PriceTable::load(&json).unwrap());
    let usage = Usage {
        input_tokens: 2_000_000,
        output_tokens: 1_000_000,
        cache_read_input_tokens: 1_000_000,
        ..Usage::default()
    };
    let cost = prices.cost("acme-large-20250101", &usage).unwrap();
    assert!((cost.total - (3.0 + 1.0 + 9.0)).abs() < 1e-9, "{cost:?}");
    assert!((prices.cost("acme-small", &usage).unwrap().total - (1.0 + 1.5)).abs() < 1e-9);
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[models.x]\ninput = 1\n").unwrap();
    let err = PriceTable::load(&bad).unwrap_err();
    assert!(
        err.to_string().contains("bad.toml") && err.to_string().contains("output"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn models_are_priced_only_by_exact_name_or_dated_snapshot() {
    let prices = PriceTable::builtin();
    assert!(prices.get("gpt-4o-2024-08-06").is_some());
    assert_eq!(
        prices.get("gpt-4o-mini-2024-07-18"),
        prices.get("gpt-4o-mini")
    );
    assert_ne!(prices.get("gpt-4o-mini-2024-07-18"), prices.get("gpt-4o"));
    assert_eq!(
        prices.get("claude-3-5-haiku-20241022"),
        prices.get("claude-3-5-haiku")
    );
    assert!(prices.get("gpt-4o-audio-preview").is_none());
    assert!(
        prices.get("gpt-4").is_none(),
        "no entry for gpt-4: no guess"
    );
    assert!(prices.get("o3-pro").is_none());
}
