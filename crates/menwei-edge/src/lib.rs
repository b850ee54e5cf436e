//! The per-compound edge daemon, as a library so that its parts can be tested.
//!
//! `main.rs` parses the command line and owns the process (signals, logging, exit codes);
//! [`config`] turns `edge.toml` into typed settings; [`pipeline`] wires cameras to the
//! inference thread; [`tools`] holds `analyze` and `eval`. Async (tokio) is used only for signals and, later, network I/O: frames
//! and inference stay on named OS threads.

pub mod config;
pub mod draw;
pub mod events;
pub mod http;
pub mod notify;
pub mod pipeline;
pub mod recognition;
pub mod relay;
pub mod snapshots;
pub mod tools;
