//! ONVIF (Profile S and T) just far enough to find a camera's stream addresses.
//!
//! An installer at a gate knows a camera's IP address and its password, not the vendor's RTSP
//! path (`/Streaming/Channels/101`, `/cam/realmonitor?channel=1&subtype=0`...). ONVIF asks the
//! camera itself. This crate is shaped for that one job:
//!
//! - **Pure reading apart from I/O.** [`xml`] turns an answer into a tree read by local name
//!   (cameras bind different prefixes), [`answers`] reads faults, clocks, services, profiles
//!   and stream URLs from it, and [`soap`] builds envelopes and the WS-UsernameToken digest.
//!   All three are tested on their own; [`client`] and [`discover`] only move bytes.
//! - **Blocking, with a timeout on every call.** `onvif probe` is a command an installer runs
//!   once, so a plain HTTP client (ureq, already in the workspace for webhooks) is enough and
//!   nothing here needs the daemon's runtime.
//! - **Media2 first, Media when it is all there is**, and `GetCapabilities` for devices that
//!   predate `GetServices`.
//! - **Passwords stay out of output.** They are sent only as digests, never printed, and the
//!   camera block it prints has `PASSWORD` where the password goes.

pub mod answers;
pub mod client;
pub mod discover;
pub mod soap;
pub mod xml;

pub use client::{Client, Credentials, OnvifError, Report};
