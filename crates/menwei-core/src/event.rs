//! The events an edge box publishes, and the MQTT topic tree they travel on (schema version 1).
//!
//! These types are the wire contract between menwei-edge and menwei-central, documented in
//! docs/ref/events.md and docs/ref/mqtt.md. What is *not* here matters as much: no image, no
//! embedding and no name ever appears in an event. A resident is a pseudonymous reference; a
//! plate is its text, colour, layout and per-character confidences.

use serde::{Deserialize, Serialize};

/// The schema version every payload carries.
pub const SCHEMA: u32 = 1;
/// The first level of every topic, versioned with the schema.
pub const TOPIC_ROOT: &str = "menwei/v1";

/// The topics of one compound: `menwei/v1/<compound>/...`. A broker ACL that confines each
/// compound's credentials to its own subtree (deploy/mosquitto/acl) follows from this layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    compound: String,
}

impl Topics {
    pub fn new(compound: &str) -> Self {
        Self { compound: compound.to_owned() }
    }
    fn t(&self, rest: &str) -> String {
        format!("{TOPIC_ROOT}/{}/{rest}", self.compound)
    }
    /// Events, one topic per class: `menwei/v1/<c>/events/<class>` (QoS 1).
    pub fn events(&self, class: EventClass) -> String {
        self.t(&format!("events/{}", class.name()))
    }
    /// `online` / `offline`, retained; `offline` is the last will.
    pub fn status(&self) -> String {
        self.t("status")
    }
    /// Periodic health: camera states, outbox depth, register version (retained).
    pub fn heartbeat(&self) -> String {
        self.t("heartbeat")
    }
    /// Central to edge: the cumulative ack `{"upto_seq": N}` after central has stored events.
    pub fn ack(&self) -> String {
        self.t("ack")
    }
    /// Central to edge: resend events from a sequence number, after central saw a gap.
    pub fn resend(&self) -> String {
        self.t("resend")
    }
    /// Every compound's events, for a central subscriber: `menwei/v1/+/events/#`.
    pub fn all_events() -> String {
        format!("{TOPIC_ROOT}/+/events/#")
    }
}

/// Event classes: each has its own topic and its own outbox bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventClass {
    /// Access decisions (granted, denied). Never dropped.
    Access,
    /// Security anomalies (repeat strangers, tampering). Never dropped.
    Security,
    /// Camera and device health. Dropped oldest-first when their bound is reached.
    Health,
}

impl EventClass {
    pub const ALL: [EventClass; 3] = [EventClass::Access, EventClass::Security, EventClass::Health];

    pub fn name(self) -> &'static str {
        match self {
            EventClass::Access => "access",
            EventClass::Security => "security",
            EventClass::Health => "health",
        }
    }

    pub fn parse(s: &str) -> Option<EventClass> {
        EventClass::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Whether the outbox may drop events of this class when full.
    pub fn droppable(self) -> bool {
        self == EventClass::Health
    }
}

/// What an event says happened: `<class>.<what>` on the wire (the `kind` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    AccessGranted,
    AccessDenied,
    /// A face that matched nobody came by often enough to be reported.
    RepeatStranger,
    /// Failed for longer than the offline grace.
    CameraOffline,
    /// Connected, but no frame for the watchdog's time.
    CameraStalled,
    /// Covered, blinded or turned away.
    CameraTampered,
    /// Streaming again after an offline, stalled or tampered report.
    CameraOnline,
    /// The picture's size changed mid-stream (an operator changed the camera's profile).
    CameraFormatChanged,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::AccessGranted,
        EventKind::AccessDenied,
        EventKind::RepeatStranger,
        EventKind::CameraOffline,
        EventKind::CameraStalled,
        EventKind::CameraTampered,
        EventKind::CameraOnline,
        EventKind::CameraFormatChanged,
    ];

    /// The wire name, e.g. `health.camera_offline`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::AccessGranted => "access.granted",
            EventKind::AccessDenied => "access.denied",
            EventKind::RepeatStranger => "security.repeat_stranger",
            EventKind::CameraOffline => "health.camera_offline",
            EventKind::CameraStalled => "health.camera_stalled",
            EventKind::CameraTampered => "health.camera_tampered",
            EventKind::CameraOnline => "health.camera_online",
            EventKind::CameraFormatChanged => "health.camera_format_changed",
        }
    }

    /// The class, and so the topic and the outbox bound, the event travels under.
    pub fn class(self) -> EventClass {
        match self {
            EventKind::AccessGranted | EventKind::AccessDenied => EventClass::Access,
            EventKind::RepeatStranger => EventClass::Security,
            EventKind::CameraOffline
            | EventKind::CameraStalled
            | EventKind::CameraTampered
            | EventKind::CameraOnline
            | EventKind::CameraFormatChanged => EventClass::Health,
        }
    }

    /// Whether the event reports an anomaly, which central turns into a work order.
    pub fn is_anomaly(self) -> bool {
        matches!(
            self,
            EventKind::RepeatStranger | EventKind::CameraOffline | EventKind::CameraStalled | EventKind::CameraTampered
        )
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The cumulative acknowledgement central publishes on [`Topics::ack`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub upto_seq: u64,
}

/// A resend request on [`Topics::resend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resend {
    pub from_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_live_under_the_compounds_versioned_subtree() {
        let t = Topics::new("c-0042");
        assert_eq!(t.events(EventClass::Access), "menwei/v1/c-0042/events/access");
        assert_eq!(t.status(), "menwei/v1/c-0042/status");
        assert_eq!(t.ack(), "menwei/v1/c-0042/ack");
        assert_eq!(Topics::all_events(), "menwei/v1/+/events/#");
        assert_eq!(EventClass::parse("security"), Some(EventClass::Security));
        assert!(EventClass::Health.droppable() && !EventClass::Access.droppable());
        assert_eq!(serde_json_like(Ack { upto_seq: 7 }), "{\"upto_seq\":7}");
    }

    #[test]
    fn each_kind_names_its_class_and_parses_back() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.name()), Some(k));
            assert!(k.name().starts_with(&format!("{}.", k.class().name())), "{k}");
        }
        assert_eq!(EventKind::RepeatStranger.class(), EventClass::Security);
        assert!(EventKind::CameraOffline.is_anomaly() && !EventKind::CameraOnline.is_anomaly());
        assert!(!EventKind::AccessDenied.is_anomaly());
        assert_eq!(EventKind::parse("health.something_new"), None);
    }

    fn serde_json_like(a: Ack) -> String {
        format!("{{\"upto_seq\":{}}}", a.upto_seq)
    }
}

/// Which way a lane lets people or vehicles through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Entry,
    Exit,
    Both,
}

/// Who or what an event is about. Never an image, an embedding or a name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Subject {
    /// A registered resident, by pseudonymous reference.
    Resident { resident_ref: String, household_ref: Option<String> },
    /// A face matched nobody (or an erased person): only a cluster reference, kept on the edge
    /// with a time-to-live.
    UnknownFace { cluster_ref: Option<String> },
    /// A vehicle, by its plate (GA/T 1400 keeps plate number, colour and class representable).
    Vehicle {
        plate: String,
        plate_color: Option<String>,
        layout: Option<String>,
        char_confidences: Vec<f32>,
        /// `exact` or `fuzzy` (confusion-aware, within the configured distance).
        match_kind: Option<String>,
        vehicle_ref: Option<String>,
    },
    /// A camera (health events).
    Camera { state: String, detail: Option<String> },
}

/// One event, as published and as stored centrally (schema version 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub schema: u32,
    /// UUIDv7: unique, and ordered by creation time.
    pub event_id: String,
    /// Per-compound sequence, allocated when the event is committed to the outbox.
    pub seq: u64,
    pub compound: String,
    /// `access.granted`, `access.denied`, `security.repeat_stranger`, `health.camera_offline`...
    pub kind: String,
    pub class: EventClass,
    pub gate: Option<String>,
    pub camera: Option<String>,
    pub direction: Option<Direction>,
    /// UTC, RFC 3339 with milliseconds.
    pub occurred_at: String,
    pub subject: Option<Subject>,
    pub decision: Option<String>,
    pub reason: Option<String>,
    /// Named scores: `face_cosine`, `face_margin`, `plate_agreement`, `plate_distance`, `plate_reads`...
    #[serde(default)]
    pub scores: std::collections::BTreeMap<String, f32>,
    /// Model name -> manifest sha256 prefix, for the models that produced the evidence.
    #[serde(default)]
    pub models: std::collections::BTreeMap<String, String>,
}

/// RFC 3339 UTC with milliseconds for a time given as milliseconds since the Unix epoch.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let (days, ms_of_day) = (unix_ms.div_euclid(86_400_000), unix_ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{:02}.{:03}Z", rest / 1000, rest % 1000)
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_ms(1_795_779_296_789), "2026-11-27T11:34:56.789Z");
    }
}

/// A register update from central (`menwei/v1/<compound>/sync`), versioned per compound. The
/// edge applies batches strictly in order, persists the version, and reports it on
/// `sync/applied` and in its heartbeat. Face templates are never in a batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncBatch {
    pub version: u64,
    #[serde(default)]
    pub residents: Vec<SyncResident>,
    #[serde(default)]
    pub vehicles: Vec<crate::rules::VehicleEntry>,
    /// Plates to remove.
    #[serde(default)]
    pub remove_vehicles: Vec<String>,
    /// Residents whose face data every edge must erase.
    #[serde(default)]
    pub erase: Vec<String>,
}

/// A resident's status as central distributes it (no name, no template).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResident {
    pub id: String,
    pub household: String,
    /// `active` or `suspended`.
    pub status: String,
    pub consent_at: Option<String>,
    pub consent_method: Option<String>,
    pub guardian: Option<String>,
    #[serde(default)]
    pub face_opt_out: bool,
}

/// The edge's answer on `sync/applied`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncApplied {
    pub version: u64,
}

impl Topics {
    /// Central to edge: register updates ([`SyncBatch`]), QoS 1, retained is not used.
    pub fn sync(&self) -> String {
        self.t("sync")
    }
    /// Edge to central: the register version applied ([`SyncApplied`]), retained.
    pub fn sync_applied(&self) -> String {
        self.t("sync/applied")
    }
}
