//! The per-compound edge daemon, as a library so that its parts can be tested.
//!
//! `main.rs` parses the command line and owns the process (signals, logging, the shutdown
//! signal and its grace, exit codes); everything the daemon does is here:
//!
//! - [`config`] turns `edge.toml` into typed settings, one validating function per table.
//! - [`pipeline`] is the inference thread's scheduler: it opens the models ([`pipeline::Models`])
//!   and visits each camera's [`slot::CameraSlot`], which says when the camera is due and where
//!   the models look; [`recognition`] turns detections into tracks and decisions, reading
//!   faces and plates from the full-resolution picture where there is one ([`fine`]) (the rules
//!   themselves are pure, in `menwei_core::gate`); [`health`] turns camera states and tampering
//!   into health events, with one timer for the offline grace.
//! - [`events`] commits events to the outbox; [`relay`] publishes them over MQTT and applies
//!   central's acks; [`sync`] applies central's register updates.
//! - [`hooks`] is what the inference thread shares with the rest; [`status`] reads it for
//!   `/metrics`, `/readyz` and the heartbeat; [`http`] serves those and [`enroll`]'s `/enroll`.
//! - [`snapshots`] keeps the picture behind an event; [`notify`] talks to systemd.
//! - [`tools`] and [`draw`] hold `analyze`, `enroll`, `eval` and their annotated pictures;
//!   [`onvif`] holds `onvif probe` and `onvif discover` (the protocol is menwei-onvif's).
//!
//! Async (tokio, one thread) is for I/O only: signals, MQTT and HTTP. Frames and inference stay
//! on named OS threads (`infer-0`, a capture thread per camera, `camera-health`).

pub mod config;
pub mod draw;
pub mod enroll;
pub mod events;
pub mod fine;
pub mod health;
pub mod hooks;
pub mod http;
pub mod notify;
pub mod onvif;
pub mod pipeline;
pub mod recognition;
pub mod relay;
pub mod slot;
pub mod snapshots;
pub mod status;
pub mod sync;
pub mod tools;
pub mod video_eval;
