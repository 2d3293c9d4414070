//! Test-only helpers shared by the end-to-end tests, one module per
//! component: real Prometheus, Pushgateway and `promtool` (`prometheus`), a
//! real Phoenix from the test venv (`phoenix`), an OTLP collector
//! (`collector`), HTTP polling (`http`), runtimes and networks (`net`), span
//! and recorder helpers. Tools that are missing fail the test with the
//! command that installs them.
#![forbid(unsafe_code)]

pub mod collector;
pub mod exposition;
pub mod generated;
mod http;
mod net;
pub mod otlp;
mod phoenix;
pub mod process;
mod prometheus;
pub mod prometheus_recorder;
pub mod recorder;
pub mod spans;
pub mod specs;

pub use http::{eventually, get, post, try_get};
pub use net::{black_hole, in_private_network, runtime};
pub use phoenix::{Phoenix, test_python};
pub use prometheus::{
    Prometheus, Pushgateway, first_value, prometheus_tool, promtool_check_metrics,
};
