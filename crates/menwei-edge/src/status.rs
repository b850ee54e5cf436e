//! What the daemon says about itself: `/metrics`, `/readyz` and the heartbeat payload.
//!
//! Each is a view over state other parts own (the cameras' counters through [`Hooks`], the
//! outbox, the relay's counters), read when asked. Ready means the models are loaded, every
//! camera streams (or a file ended) and the outbox is not degraded. The broker does not decide
//! readiness: events wait in the outbox while it is away.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use menwei_core::metrics::{Kind, MetricsText};
use menwei_outbox::Outbox;

use crate::hooks::Hooks;
use crate::pipeline::Control;
use crate::relay::RelayStats;

/// What the endpoints and the heartbeat read.
#[derive(Clone, Debug)]
pub struct Status {
    pub ctl: Arc<Control>,
    pub hooks: Arc<Hooks>,
    pub outbox: Option<Arc<Mutex<Outbox>>>,
    pub relay: Arc<RelayStats>,
}

impl Status {
    /// The `/metrics` and `/readyz` handlers (enrolment is added by the caller).
    pub fn endpoints(&self) -> crate::http::Endpoints {
        let (m, r) = (self.clone(), self.clone());
        crate::http::Endpoints {
            metrics: Box::new(move || m.metrics()),
            ready: Box::new(move || r.ready()),
            enroll: None,
        }
    }

    /// Prometheus text: capture, pipeline, outbox and relay figures.
    pub fn metrics(&self) -> String {
        let mut m = MetricsText::new();
        let sources = self.hooks.sources.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let refs: Vec<&dyn menwei_capture::FrameSource> = sources.iter().map(|s| s as _).collect();
        menwei_capture::write_metrics(&refs, &mut m);
        self.pipeline_metrics(&mut m);
        self.outbox_metrics(&mut m);
        self.relay_metrics(&mut m);
        m.finish()
    }

    fn pipeline_metrics(&self, m: &mut MetricsText) {
        // One family at a time: the text format wants a family's samples together.
        let counts = self.hooks.frame_counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (camera, n) in &counts {
            m.sample(
                "menwei_pipeline_analysed_frames_total",
                Kind::Counter,
                "Frames the models looked at (the moving region or the whole frame).",
                &[("camera", camera)],
                n.analysed.load(Ordering::Relaxed) as f64,
            );
        }
        for (camera, n) in &counts {
            for (reason, v) in [("still", &n.still), ("decided", &n.decided)] {
                m.sample(
                    "menwei_pipeline_spared_frames_total",
                    Kind::Counter,
                    "Frames the motion gate kept from the models: still (nothing moved), decided (a settling picture whose faces and plates were all decided).",
                    &[("camera", camera), ("reason", reason)],
                    v.load(Ordering::Relaxed) as f64,
                );
            }
        }
        let refused = self.hooks.faces_refused.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for ((camera, reason), n) in &refused {
            m.sample(
                "menwei_recognition_faces_refused_total",
                Kind::Counter,
                "Face shots the gate's quality policy would not decide on, by reason (too small, too dark, blurred, turned, unsure, poor).",
                &[("camera", camera), ("reason", reason)],
                *n as f64,
            );
        }
    }

    fn outbox_metrics(&self, m: &mut MetricsText) {
        let Some(status) = self.outbox.as_ref().and_then(|o| o.lock().unwrap_or_else(|e| e.into_inner()).status().ok())
        else {
            return;
        };
        for (c, n) in &status.depth {
            m.sample(
                "menwei_outbox_depth_events",
                Kind::Gauge,
                "Events waiting for central's ack.",
                &[("class", c.name())],
                *n as f64,
            );
        }
        for (c, n) in &status.dropped {
            m.sample(
                "menwei_outbox_dropped_events_total",
                Kind::Counter,
                "Events dropped at their class's cap.",
                &[("class", c.name())],
                *n as f64,
            );
        }
        let degraded = f64::from(u8::from(status.degraded));
        m.sample("menwei_outbox_degraded", Kind::Gauge, "1 when a never-drop class nears its cap.", &[], degraded);
        let last = status.last_seq as f64;
        m.sample("menwei_outbox_last_seq", Kind::Gauge, "The last sequence number committed.", &[], last);
    }

    fn relay_metrics(&self, m: &mut MetricsText) {
        let relay = &self.relay;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        let connected = f64::from(u8::from(relay.connected.load(Ordering::Relaxed)));
        m.sample("menwei_relay_connected", Kind::Gauge, "1 while connected to the broker.", &[], connected);
        for (name, kind, help, v) in [
            ("menwei_relay_connects_total", Kind::Counter, "Connections made to the broker.", &relay.connects),
            ("menwei_relay_published_events_total", Kind::Counter, "Events handed to the broker.", &relay.published),
            (
                "menwei_relay_republished_events_total",
                Kind::Counter,
                "Events published again (lost session, resend, stalled ack).",
                &relay.republished,
            ),
            ("menwei_relay_acked_seq", Kind::Gauge, "The highest sequence central acknowledged.", &relay.acked_seq),
        ] {
            m.sample(name, kind, help, &[], load(v));
        }
    }

    /// `Ok` when ready; otherwise every reason it is not.
    pub fn ready(&self) -> Result<(), Vec<String>> {
        let mut why = Vec::new();
        if !self.ctl.ready.load(Ordering::SeqCst) {
            why.push("models and cameras are still starting".to_owned());
        }
        for (camera, state) in self.hooks.camera_states.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if state != "streaming" && state != "ended" {
                why.push(format!("camera {camera} is {state}"));
            }
        }
        if let Some(o) = &self.outbox
            && o.lock().unwrap_or_else(|e| e.into_inner()).status().is_ok_and(|s| s.degraded)
        {
            why.push("the outbox is near its cap (central has not acknowledged for a long time)".to_owned());
        }
        if why.is_empty() { Ok(()) } else { Err(why) }
    }

    /// The heartbeat payload: camera states, outbox depth, register version.
    pub fn heartbeat(&self) -> Vec<u8> {
        let register_version = self.hooks.register_version.load(Ordering::SeqCst);
        let cameras = self.hooks.camera_states.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let status = self.outbox.as_ref().and_then(|o| o.lock().unwrap_or_else(|e| e.into_inner()).status().ok());
        let by_class = |m: &BTreeMap<menwei_core::event::EventClass, u64>| -> BTreeMap<&'static str, u64> {
            m.iter().map(|(c, n)| (c.name(), *n)).collect()
        };
        let body = serde_json::json!({
            "schema": menwei_core::event::SCHEMA,
            "at": menwei_core::event::rfc3339_ms(self.hooks.clock.unix_ms()),
            "cameras": cameras,
            "outbox": status.as_ref().map(|s| serde_json::json!({
                "depth": by_class(&s.depth),
                "dropped": by_class(&s.dropped),
                "last_seq": s.last_seq,
                "acked_seq": s.acked_seq,
                "degraded": s.degraded,
            })),
            "register_version": register_version,
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }
}
