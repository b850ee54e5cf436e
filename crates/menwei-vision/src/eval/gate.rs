//! What the gate would decide: open-set 1:N identification at the daemon's own threshold,
//! margin and quality policy.
//!
//! The protocol, from a manifest of photos and identities:
//! - identities are sorted by name and the last `strangers` of them (by default 20 %, at least
//!   one) are never enrolled: every photo of theirs is a stranger probe;
//! - of every other identity the first `enrol` photos (manifest order) are enrolled, as
//!   photographed, and every later photo is a resident probe, in the condition under test;
//! - each probe is decided alone, as one shot: the quality policy first (a refused shot is
//!   counted with its reason and decides nothing), then [`TemplateMatrix::decide`] with the
//!   threshold and margin, exactly as the daemon matches a shot.
//!
//! The daemon fuses up to three shots per passage ([`menwei_core::gate`]), which can only make
//! a passage surer than its best single shot; counting single shots is the stricter figure.

use std::collections::BTreeMap;

use menwei_core::matcher::{Decision, TemplateMatrix};
use serde::Serialize;

use crate::embed::FaceShot;
use crate::quality::QualityPolicy;

/// How photos are split into enrolled, resident probes and stranger probes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Protocol {
    /// Photos enrolled per identity (manifest order).
    pub enrol: usize,
    /// Identities never enrolled; `None`: 20 % of them, at least one.
    pub strangers: Option<usize>,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol { enrol: 1, strangers: None }
    }
}

/// The gate's settings under test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GateSettings {
    pub threshold: f32,
    pub margin: f32,
    pub policy: QualityPolicy,
}

/// Probes the quality policy refused, by reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Refused {
    pub probes: usize,
    pub reasons: BTreeMap<String, usize>,
}

/// What the gate decided in one condition (the `at_defaults` object of `eval faces --json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AtDefaults {
    pub threshold: f32,
    pub margin: f32,
    pub enrolled_identities: usize,
    /// Photos of enrolled identities that were not enrolled. Each is one of: `correct`,
    /// `wrong_resident`, `undecided` (no face found, or nobody above the threshold with the
    /// margin), or refused by the quality policy (counted in `refused_low_quality`).
    pub resident_probes: usize,
    pub correct: usize,
    pub wrong_resident: usize,
    pub undecided: usize,
    /// Photos of the identities never enrolled; `stranger_granted` of them matched a resident.
    pub stranger_probes: usize,
    pub stranger_granted: usize,
    /// Resident and stranger probes together.
    pub refused_low_quality: Refused,
}

/// The identities that are never enrolled, by the protocol.
pub fn stranger_identities<'a>(identities: impl IntoIterator<Item = &'a str>, protocol: Protocol) -> Vec<String> {
    let mut names: Vec<&str> = identities.into_iter().collect();
    names.sort_unstable();
    names.dedup();
    let k = protocol.strangers.unwrap_or((names.len() as f64 * 0.2).round() as usize).max(1).min(names.len());
    names[names.len() - k..].iter().map(|s| (*s).to_owned()).collect()
}

/// Decides every probe. `photos` is the manifest: (photo, identity) in manifest order;
/// `enrolled` the shots of the photos as photographed and `probes` the shots in the condition
/// under test (`None`: no face found).
pub fn at_gate(
    photos: &[(String, String)],
    enrolled: &BTreeMap<String, Option<FaceShot>>,
    probes: &BTreeMap<String, Option<FaceShot>>,
    protocol: Protocol,
    settings: GateSettings,
) -> AtDefaults {
    let strangers = stranger_identities(photos.iter().map(|(_, id)| id.as_str()), protocol);
    let mut owners: Vec<&str> = Vec::new();
    let dims = enrolled.values().flatten().chain(probes.values().flatten()).next().map_or(0, |s| s.embedding.0.len());
    let mut templates = TemplateMatrix::new(dims);
    let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
    let mut roles: Vec<(&str, &str, bool)> = Vec::new(); // (photo, identity, stranger)
    for (photo, id) in photos {
        if strangers.contains(id) {
            roles.push((photo, id, true));
            continue;
        }
        let n = taken.entry(id).or_default();
        if *n < protocol.enrol {
            *n += 1;
            if let Some(Some(shot)) = enrolled.get(photo) {
                let owner = owners.iter().position(|o| o == id).unwrap_or_else(|| {
                    owners.push(id);
                    owners.len() - 1
                });
                templates.push(owner as u64, &shot.embedding.0[..]);
            }
        } else {
            roles.push((photo, id, false));
        }
    }
    let mut out = AtDefaults {
        threshold: settings.threshold,
        margin: settings.margin,
        enrolled_identities: owners.len(),
        ..AtDefaults::default()
    };
    for (photo, id, stranger) in roles {
        // A resident whose enrolment photos had no face is not in the register: skip them.
        if !stranger && !owners.contains(&id) {
            continue;
        }
        if stranger {
            out.stranger_probes += 1;
        } else {
            out.resident_probes += 1;
        }
        let Some(Some(shot)) = probes.get(photo) else {
            out.undecided += usize::from(!stranger);
            continue;
        };
        if let Err(issue) = settings.policy.check(&shot.quality) {
            out.refused_low_quality.probes += 1;
            *out.refused_low_quality.reasons.entry(issue.reason().to_owned()).or_default() += 1;
            continue;
        }
        match templates.decide(&shot.embedding.0[..], settings.threshold, settings.margin) {
            Decision::Match { .. } if stranger => out.stranger_granted += 1,
            Decision::Match { owner, .. } if owners[owner as usize] == id => out.correct += 1,
            Decision::Match { .. } => out.wrong_resident += 1,
            Decision::Unknown { .. } => out.undecided += usize::from(!stranger),
        }
    }
    out
}

impl std::fmt::Display for AtDefaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "  at the gate (threshold {:.2}, margin {:.2}, {} identities enrolled): {} resident probes: {} correct, {} wrong resident, {} undecided",
            self.threshold,
            self.margin,
            self.enrolled_identities,
            self.resident_probes,
            self.correct,
            self.wrong_resident,
            self.undecided
        )?;
        write!(f, "  {} stranger probes: {} granted", self.stranger_probes, self.stranger_granted)?;
        if self.refused_low_quality.probes > 0 {
            let why: Vec<String> = self.refused_low_quality.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
            write!(f, "; refused for quality: {} ({})", self.refused_low_quality.probes, why.join(", "))?;
        }
        writeln!(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::Embedding;
    use crate::face::FaceDetection;
    use crate::quality::{FaceQuality, GreyCues};
    use menwei_core::geom::{BoxXyxy, Point};

    /// A unit vector along axis `a`, tilted towards axis `b` by `t` (cosine with axis a is
    /// about 1 - t^2/2).
    fn shot(a: usize, b: usize, t: f32, eyes: f32) -> Option<FaceShot> {
        let mut v = vec![0.0f32; 512];
        v[a] = 1.0;
        v[b] += t;
        let p = |x: f32, y: f32| Point { x, y };
        let face = FaceDetection {
            bbox: BoxXyxy { x1: 0.0, y1: 0.0, x2: 3.0 * eyes, y2: 3.0 * eyes },
            score: 0.9,
            landmarks: [
                p(eyes, eyes),
                p(2.0 * eyes, eyes),
                p(1.5 * eyes, 1.5 * eyes),
                p(1.1 * eyes, 2.1 * eyes),
                p(1.9 * eyes, 2.1 * eyes),
            ],
        };
        Some(FaceShot {
            embedding: Embedding::from_raw(&v).unwrap(),
            quality: FaceQuality::new(&face, GreyCues::clean(200.0)),
        })
    }

    fn photos(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(p, i)| ((*p).into(), (*i).into())).collect()
    }

    const SETTINGS: GateSettings = GateSettings { threshold: 0.4, margin: 0.08, policy: QualityPolicy::GATE };

    #[test]
    fn the_last_fifth_of_identities_by_name_are_strangers() {
        let ids = ["e", "a", "c", "b", "d", "a", "f", "g", "h", "i", "j"];
        assert_eq!(stranger_identities(ids, Protocol::default()), vec!["i", "j"]);
        assert_eq!(stranger_identities(["x", "y"], Protocol::default()), vec!["y"]);
        assert_eq!(stranger_identities(ids, Protocol { enrol: 1, strangers: Some(3) }), vec!["h", "i", "j"]);
    }

    #[test]
    fn a_wrong_resident_and_a_granted_stranger_are_counted_as_such() {
        // alice (axis 0), bob (axis 1) enrolled; zed is the stranger.
        let list = photos(&[
            ("a1", "alice"),
            ("a2", "alice"),
            ("a3", "alice"),
            ("a4", "alice"),
            ("b1", "bob"),
            ("b2", "bob"),
            ("z1", "zed"),
            ("z2", "zed"),
            ("z3", "zed"),
        ]);
        let mut enrolled = BTreeMap::new();
        enrolled.insert("a1".to_owned(), shot(0, 5, 0.0, 40.0));
        enrolled.insert("b1".to_owned(), shot(1, 5, 0.0, 40.0));
        let mut probes = BTreeMap::new();
        probes.insert("a2".to_owned(), shot(0, 7, 0.3, 40.0)); // alice: correct
        probes.insert("a3".to_owned(), shot(1, 7, 0.3, 40.0)); // looks like bob: wrong resident
        probes.insert("a4".to_owned(), None); // no face: undecided
        probes.insert("b2".to_owned(), shot(1, 0, 0.95, 40.0)); // between the two: no margin, undecided
        probes.insert("z1".to_owned(), shot(9, 8, 0.1, 40.0)); // nobody
        probes.insert("z2".to_owned(), shot(0, 9, 0.5, 40.0)); // close to alice: granted
        probes.insert("z3".to_owned(), shot(0, 9, 0.5, 10.0)); // the same, but too small to decide
        let r = at_gate(&list, &enrolled, &probes, Protocol::default(), SETTINGS);
        assert_eq!(r.enrolled_identities, 2);
        assert_eq!((r.resident_probes, r.correct, r.wrong_resident, r.undecided), (4, 1, 1, 2), "{r:?}");
        assert_eq!((r.stranger_probes, r.stranger_granted), (3, 1), "{r:?}");
        assert_eq!(r.refused_low_quality.probes, 1);
        assert_eq!(r.refused_low_quality.reasons.get("too small"), Some(&1));
    }

    #[test]
    fn an_identity_without_an_enrolled_face_is_not_probed() {
        let list = photos(&[("a1", "alice"), ("a2", "alice"), ("b1", "bob"), ("b2", "bob"), ("z1", "zed")]);
        let mut enrolled = BTreeMap::new();
        enrolled.insert("a1".to_owned(), None);
        enrolled.insert("b1".to_owned(), shot(1, 5, 0.0, 40.0));
        let mut probes = BTreeMap::new();
        probes.insert("a2".to_owned(), shot(0, 5, 0.0, 40.0));
        probes.insert("b2".to_owned(), shot(1, 5, 0.1, 40.0));
        let r = at_gate(&list, &enrolled, &probes, Protocol::default(), SETTINGS);
        assert_eq!((r.enrolled_identities, r.resident_probes, r.correct), (1, 1, 1), "{r:?}");
        assert_eq!((r.stranger_probes, r.undecided), (1, 0), "a stranger without a face is not undecided: {r:?}");
    }
}
