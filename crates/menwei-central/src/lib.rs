//! The district governance service: ingest, register, work orders and dashboard.
//!
//! So far: its configuration (`check-config`) and the ingestion of every compound's events
//! (`run`): a shared MQTT v5 subscription, exactly-once storage per `(compound, seq)`, the
//! cumulative ack after the commit, resend requests on gaps, and each edge's status. The
//! register, work orders, API and dashboard are still to come. The config is validated the same way as the edge's: raw structs that
//! deny unknown keys, then typed settings with every problem reported by key path.

pub mod config;
pub mod ingest;
pub mod store;
