//! Domain and wire types shared by every menwei crate.
//!
//! This crate does no I/O and links nothing heavy: the capture crate (GStreamer) produces
//! [`frame::Frame`]s and the vision crate (ONNX Runtime) consumes [`image::RgbView`]s, and
//! neither needs to know the other exists. Pure logic that several crates share lives here too,
//! so it can be tested and fuzzed without cameras, models or brokers: the gate's decision
//! ([`gate`]), tracking ([`track`]), the access rules ([`rules`]), plate grammar ([`plate`]),
//! matching ([`matcher`]). [`shutdown`] and [`clock`] are here because every crate that runs
//! threads or keeps deadlines shares them, and tests move a [`clock::ManualClock`].

pub mod clock;
pub mod config;
pub mod event;
pub mod frame;
pub mod gate;
pub mod geom;
pub mod handoff;
pub mod image;
pub mod matcher;
pub mod metrics;
pub mod motion;
pub mod plate;
pub mod profile;
pub mod retry;
pub mod rules;
pub mod shutdown;
pub mod stranger;
pub mod tamper;
pub mod track;
