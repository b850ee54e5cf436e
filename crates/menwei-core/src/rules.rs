//! Access rules: from what was recognised and what the register says, to a decision.
//!
//! Face recognition is never the only way in: a face can grant access, but a face that matches
//! nobody is not a denial (the person may badge in); it only feeds the repeat-stranger count.

use serde::{Deserialize, Serialize};

use crate::event::EventKind;
use crate::plate::PlateMatch;

/// What the register says about a vehicle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleKind {
    Resident,
    /// A visitor pass, valid in its window.
    Visitor,
    Blocked,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VehicleEntry {
    pub plate: String,
    pub color: Option<String>,
    pub household: Option<String>,
    pub kind: VehicleKind,
    pub valid_from_ms: Option<i64>,
    pub valid_until_ms: Option<i64>,
}

/// An access decision and the event it becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessDecision {
    /// [`EventKind::AccessGranted`] or [`EventKind::AccessDenied`].
    pub kind: EventKind,
    pub granted: bool,
    pub reason: &'static str,
}

const fn granted(reason: &'static str) -> AccessDecision {
    AccessDecision { kind: EventKind::AccessGranted, granted: true, reason }
}

const fn denied(reason: &'static str) -> AccessDecision {
    AccessDecision { kind: EventKind::AccessDenied, granted: false, reason }
}

/// A vehicle at the gate: `entry` is the register row of the matched plate, if any.
pub fn decide_vehicle(m: &PlateMatch, entry: Option<&VehicleEntry>, now_ms: i64) -> AccessDecision {
    match (m, entry) {
        (PlateMatch::Exact(_) | PlateMatch::Fuzzy { .. }, Some(e)) => match e.kind {
            VehicleKind::Blocked => denied("blocked_plate"),
            VehicleKind::Resident => granted("registered_vehicle"),
            VehicleKind::Visitor => {
                let started = e.valid_from_ms.is_none_or(|f| now_ms >= f);
                let running = e.valid_until_ms.is_none_or(|u| now_ms <= u);
                match (started, running) {
                    (true, true) => granted("visitor_pass"),
                    (false, _) => denied("pass_not_yet_valid"),
                    (_, false) => denied("expired_pass"),
                }
            }
        },
        (PlateMatch::Ambiguous(_), _) => denied("ambiguous_plate"),
        _ => denied("unknown_vehicle"),
    }
}

/// A face that matched a registered resident.
pub fn decide_resident(active: bool) -> AccessDecision {
    if active { granted("resident_face") } else { denied("blocked_person") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: VehicleKind, from: Option<i64>, until: Option<i64>) -> VehicleEntry {
        VehicleEntry {
            plate: "粤B12345".into(),
            color: None,
            household: None,
            kind,
            valid_from_ms: from,
            valid_until_ms: until,
        }
    }

    #[test]
    fn vehicles_are_granted_or_denied_with_a_reason() {
        let exact = PlateMatch::Exact("粤B12345".into());
        assert_eq!(
            decide_vehicle(&exact, Some(&entry(VehicleKind::Resident, None, None)), 0).reason,
            "registered_vehicle"
        );
        assert_eq!(decide_vehicle(&exact, Some(&entry(VehicleKind::Blocked, None, None)), 0), denied("blocked_plate"));
        let pass = entry(VehicleKind::Visitor, Some(100), Some(200));
        assert_eq!(decide_vehicle(&exact, Some(&pass), 150), granted("visitor_pass"));
        assert_eq!(decide_vehicle(&exact, Some(&pass), 250), denied("expired_pass"));
        assert_eq!(decide_vehicle(&exact, Some(&pass), 50), denied("pass_not_yet_valid"));
        assert_eq!(decide_vehicle(&PlateMatch::None, None, 0), denied("unknown_vehicle"));
        assert_eq!(decide_vehicle(&PlateMatch::Ambiguous(vec![]), None, 0), denied("ambiguous_plate"));
        assert!(decide_resident(true).granted && !decide_resident(false).granted);
    }
}
