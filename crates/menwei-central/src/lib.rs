//! The district governance service: ingest, register, work orders and dashboard.
//!
//! Shaped around one database API over SQLite and PostgreSQL ([`db`], with its tables in
//! [`schema`] and PostgreSQL's TLS in [`pgtls`]): every piece of the service is a function of a
//! transaction, so the effects of an event (its work order, its webhook) commit with it, a
//! register change commits with the sync batch that carries it to the edges, and an API call
//! commits with its audit record.
//!
//! - [`ingest`]: the MQTT side (shared subscription, acks after commit, resend on gaps, edge
//!   status, register distribution).
//! - [`store`], [`orders`], [`auth`], [`views`]: the transactions. [`register`] is split by
//!   resource (structure, households, residents, vehicles, passes, sync, CSV), one file each.
//! - [`api`]: axum routes, one file per resource (orders, register, admin, ops) with the role
//!   guard in `api::guard`; the REST API is described by [`openapi`], and the embedded
//!   [`dashboard`] is native ES modules served from one table, with no build step.
//! - [`webhook`]: delivery of work-order notifications with retries.
//!
//! The config ([`config`]) is validated the same way as the edge's: raw structs that deny
//! unknown keys, then typed settings with every problem reported by key path, one function per
//! table.

pub mod api;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod ingest;
pub mod openapi;
pub mod orders;
pub mod pgtls;
pub mod register;
pub mod schema;
pub mod store;
pub mod views;
pub mod webhook;
