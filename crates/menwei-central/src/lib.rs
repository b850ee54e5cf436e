//! The district governance service: ingest, register, work orders and dashboard.
//!
//! Only its configuration exists so far (`check-config`); the service itself is built in the
//! issue that owns it. The config is validated the same way as the edge's: raw structs that
//! deny unknown keys, then typed settings with every problem reported by key path.

pub mod config;
