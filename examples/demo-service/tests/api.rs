//! The API's own input never panics: an order too large to price is
//! refused with 400, never an arithmetic overflow.

use axum::body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tta_demo::{DEFAULT_MAX_CONCURRENCY, MAX_ITEMS, app, quote_workflow};

async fn post(body: String) -> (u16, String) {
    let api = app(quote_workflow().unwrap(), DEFAULT_MAX_CONCURRENCY as usize);
    let response = api
        .oneshot(
            axum::http::Request::post("/quote")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn orders_too_large_to_price_are_refused_with_400() {
    for body in [
        u64::MAX.to_string(),
        (MAX_ITEMS + 1).to_string(),
        "184467440737095516150".into(),
    ] {
        let (status, text) = post(body.clone()).await;
        assert_eq!(status, 400, "{body}: {text}");
    }
    let (status, text) = post("many".into()).await;
    assert_eq!(
        (status, text.trim()),
        (400, "the body must be a number of items")
    );
    // The largest accepted order is priced without overflowing.
    let (status, text) = post(MAX_ITEMS.to_string()).await;
    assert!(matches!(status, 200 | 500), "{status}: {text}");
}
