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
//! The daemon fuses up to three shots per passage ([`menwei_core::gate`]); [`fused_at_gate`]
//! decides each probe photo's clip (its frames, made by [`super::conditions::Condition::frame`])
//! through that same face track, so both figures are measured, not argued. A [`Gallery`] can
//! take distractor identities (real faces from other photos, or synthetic ones from
//! [`super::scale`]) to see what a register of thousands does to the same probes.

use std::collections::BTreeMap;

use menwei_core::gate::{FaceRule, FaceTrack, FaceVerdict};
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

/// The register the protocol builds from a manifest: templates of the enrolled residents (and
/// of any distractor identities added after them), and each probe photo's role.
#[derive(Clone, Debug)]
pub struct Gallery {
    templates: TemplateMatrix,
    /// Owner index -> identity; `None` for a distractor.
    owners: Vec<Option<String>>,
    /// (photo, identity, stranger) for every photo that is not enrolled, in manifest order.
    roles: Vec<(String, String, bool)>,
}

impl Gallery {
    /// Enrols by `protocol`. `photos` is the manifest: (photo, identity) in manifest order;
    /// `enrolled` the shots of the photos as photographed (`None`: no face found).
    pub fn enrol(
        photos: &[(String, String)],
        enrolled: &BTreeMap<String, Option<FaceShot>>,
        protocol: Protocol,
        dims: usize,
    ) -> Gallery {
        let strangers = stranger_identities(photos.iter().map(|(_, id)| id.as_str()), protocol);
        let mut g = Gallery { templates: TemplateMatrix::new(dims), owners: Vec::new(), roles: Vec::new() };
        let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
        for (photo, id) in photos {
            if strangers.contains(id) {
                g.roles.push((photo.clone(), id.clone(), true));
                continue;
            }
            let n = taken.entry(id).or_default();
            if *n >= protocol.enrol {
                g.roles.push((photo.clone(), id.clone(), false));
                continue;
            }
            *n += 1;
            if let Some(Some(shot)) = enrolled.get(photo) {
                let owner = g.owners.iter().position(|o| o.as_deref() == Some(id.as_str())).unwrap_or_else(|| {
                    g.owners.push(Some(id.clone()));
                    g.owners.len() - 1
                });
                g.templates.push(owner as u64, &shot.embedding.0[..]);
            }
        }
        g
    }

    /// The same register with one more identity per template in `extra` (people who are not
    /// in the photo set: a probe matched to one of them is a wrong resident, or a granted
    /// stranger).
    pub fn with_distractors<'a>(&self, extra: impl IntoIterator<Item = &'a [f32]>) -> Gallery {
        let mut g = self.clone();
        for t in extra {
            g.owners.push(None);
            g.templates.push((g.owners.len() - 1) as u64, t);
        }
        g
    }

    /// Identities enrolled, distractors included.
    pub fn identities(&self) -> usize {
        self.owners.len()
    }

    pub fn distractors(&self) -> usize {
        self.owners.iter().filter(|o| o.is_none()).count()
    }

    pub fn dims(&self) -> usize {
        self.templates.dims()
    }

    /// The probes in manifest order: (photo, stranger). A resident whose enrolment photos had
    /// no face is not in the register and is not probed.
    fn probes(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.roles
            .iter()
            .filter(|(_, id, stranger)| *stranger || self.is_enrolled(id))
            .map(|(p, id, s)| (p.as_str(), id.as_str(), *s))
    }

    fn is_enrolled(&self, id: &str) -> bool {
        self.owners.iter().any(|o| o.as_deref() == Some(id))
    }

    fn empty_report(&self, settings: GateSettings) -> AtDefaults {
        AtDefaults {
            threshold: settings.threshold,
            margin: settings.margin,
            enrolled_identities: self.identities(),
            ..AtDefaults::default()
        }
    }
}

/// What became of one probe (a shot, or a passage).
enum Outcome {
    /// Matched the owner at this index.
    Named(u64),
    /// No face found, or nobody above the threshold with the margin.
    Undecided,
    /// The quality policy would not decide it, for this reason.
    Refused(&'static str),
}

impl AtDefaults {
    fn count(&mut self, gallery: &Gallery, id: &str, stranger: bool, outcome: Outcome) {
        if stranger {
            self.stranger_probes += 1;
        } else {
            self.resident_probes += 1;
        }
        match outcome {
            Outcome::Refused(reason) => {
                self.refused_low_quality.probes += 1;
                *self.refused_low_quality.reasons.entry(reason.to_owned()).or_default() += 1;
            }
            Outcome::Named(_) if stranger => self.stranger_granted += 1,
            Outcome::Named(owner) if gallery.owners[owner as usize].as_deref() == Some(id) => self.correct += 1,
            Outcome::Named(_) => self.wrong_resident += 1,
            Outcome::Undecided => self.undecided += usize::from(!stranger),
        }
    }
}

/// Decides every probe as one shot: `probes` are the shots in the condition under test
/// (`None`: no face found).
pub fn at_gate(gallery: &Gallery, probes: &BTreeMap<String, Option<FaceShot>>, settings: GateSettings) -> AtDefaults {
    let mut out = gallery.empty_report(settings);
    for (photo, id, stranger) in gallery.probes() {
        let outcome = match probes.get(photo) {
            Some(Some(shot)) => match settings.policy.check(&shot.quality) {
                Err(issue) => Outcome::Refused(issue.reason()),
                Ok(()) => match gallery.templates.decide(&shot.embedding.0[..], settings.threshold, settings.margin) {
                    Decision::Match { owner, .. } => Outcome::Named(owner),
                    Decision::Unknown { .. } => Outcome::Undecided,
                },
            },
            _ => Outcome::Undecided,
        };
        out.count(gallery, id, stranger, outcome);
    }
    out
}

/// One frame's shot of a passage's clip and its weight in the fusion (the daemon's: the
/// `overall` quality times the square root of the face box's area).
pub type ClipShot = (FaceShot, f32);

/// What the gate decided per passage, each passage a clip of one probe photo's frames fed to
/// the daemon's own face track ([`FaceTrack`]: the quality policy first, up to
/// [`menwei_core::gate::MAX_SHOTS`] shots, two agreeing shots or the fusion of all).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Fused {
    /// Frames in each passage's clip.
    pub frames: usize,
    /// Shots embedded into the fusion, over all passages.
    pub shots: usize,
    /// As for single shots, with a passage for a probe (`resident_probes` and
    /// `stranger_probes` count passages; a passage is refused when every face in it was).
    #[serde(flatten)]
    pub gate: AtDefaults,
}

/// Decides every probe photo's clip as one passage (`None` frames: no face found).
pub fn fused_at_gate(
    gallery: &Gallery,
    clips: &BTreeMap<String, Vec<Option<ClipShot>>>,
    settings: GateSettings,
) -> Fused {
    let rule = FaceRule { threshold: settings.threshold, margin: settings.margin };
    let mut out = Fused { gate: gallery.empty_report(settings), ..Fused::default() };
    for (photo, id, stranger) in gallery.probes() {
        let clip = clips.get(photo).map_or(&[][..], Vec::as_slice);
        out.frames = out.frames.max(clip.len());
        let mut track = FaceTrack::default();
        let mut refusal = None;
        let mut named = None;
        for (shot, weight) in clip.iter().flatten() {
            if !track.wants_shot() {
                break;
            }
            if let Err(issue) = settings.policy.check(&shot.quality) {
                refusal.get_or_insert(issue.reason());
                continue;
            }
            out.shots += 1;
            if let FaceVerdict::Resident { owner, .. } =
                track.add_shot(&shot.embedding.0[..], *weight, &gallery.templates, rule)
            {
                named = Some(owner);
            }
        }
        let outcome = match (named, refusal) {
            (Some(owner), _) => Outcome::Named(owner),
            (None, Some(reason)) if track.shots() == 0 => Outcome::Refused(reason),
            // Unknown after its shots, or the clip ended first: no decision, as at the gate.
            (None, _) => Outcome::Undecided,
        };
        out.gate.count(gallery, id, stranger, outcome);
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
        let r = at_gate(&Gallery::enrol(&list, &enrolled, Protocol::default(), 512), &probes, SETTINGS);
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
        let r = at_gate(&Gallery::enrol(&list, &enrolled, Protocol::default(), 512), &probes, SETTINGS);
        assert_eq!((r.enrolled_identities, r.resident_probes, r.correct), (1, 1, 1), "{r:?}");
        assert_eq!((r.stranger_probes, r.undecided), (1, 0), "a stranger without a face is not undecided: {r:?}");
    }

    type Shots = BTreeMap<String, Option<FaceShot>>;

    /// alice (axis 0) and bob (axis 1) enrolled from a1 and b1; zed is the stranger.
    fn two_residents() -> (Vec<(String, String)>, Shots) {
        let list =
            photos(&[("a1", "alice"), ("a2", "alice"), ("b1", "bob"), ("b2", "bob"), ("z1", "zed"), ("z2", "zed")]);
        let mut enrolled = BTreeMap::new();
        enrolled.insert("a1".to_owned(), shot(0, 5, 0.0, 40.0));
        enrolled.insert("b1".to_owned(), shot(1, 5, 0.0, 40.0));
        (list, enrolled)
    }

    fn clip(shots: &[Option<FaceShot>]) -> Vec<Option<ClipShot>> {
        shots.iter().map(|s| s.clone().map(|s| (s, 1.0))).collect()
    }

    #[test]
    fn a_passage_is_decided_by_the_daemons_face_track() {
        let (list, enrolled) = two_residents();
        let gallery = Gallery::enrol(&list, &enrolled, Protocol::default(), 512);
        let mut clips = BTreeMap::new();
        // alice: a frame without a face, one too small, then two shots that agree.
        clips.insert(
            "a2".to_owned(),
            clip(&[None, shot(0, 7, 0.3, 10.0), shot(0, 7, 0.3, 40.0), shot(0, 8, 0.3, 40.0), shot(1, 7, 0.1, 40.0)]),
        );
        // bob: every shot under the threshold (cosine 0.37), and their fusion too: undecided.
        clips.insert("b2".to_owned(), clip(&[shot(1, 7, 2.5, 40.0), shot(1, 7, 2.5, 40.0), shot(1, 7, 2.5, 40.0)]));
        // zed: two shots that each look like alice, so the stranger is granted.
        clips.insert("z1".to_owned(), clip(&[shot(0, 9, 0.5, 40.0), shot(0, 9, 0.5, 40.0)]));
        // zed again, every face too small: refused, not undecided.
        clips.insert("z2".to_owned(), clip(&[shot(0, 9, 0.5, 10.0), shot(0, 9, 0.5, 12.0)]));
        let f = fused_at_gate(&gallery, &clips, SETTINGS);
        let g = &f.gate;
        assert_eq!((g.resident_probes, g.correct, g.undecided, g.wrong_resident), (2, 1, 1, 0), "{f:?}");
        assert_eq!((g.stranger_probes, g.stranger_granted), (2, 1), "{f:?}");
        assert_eq!(g.refused_low_quality.reasons.get("too small"), Some(&1), "{f:?}");
        // alice stopped at her second good shot; bob used three; zed's first clip two.
        assert_eq!((f.frames, f.shots), (5, 2 + 3 + 2), "{f:?}");
    }

    #[test]
    fn a_distractor_nearer_than_the_resident_is_a_wrong_resident() {
        let (list, enrolled) = two_residents();
        let gallery = Gallery::enrol(&list, &enrolled, Protocol::default(), 512);
        let mut probes = BTreeMap::new();
        probes.insert("a2".to_owned(), shot(3, 0, 0.4, 40.0)); // nearer axis 3 than alice
        probes.insert("b2".to_owned(), shot(1, 5, 0.1, 40.0)); // bob, unaffected
        probes.insert("z1".to_owned(), shot(4, 6, 0.1, 40.0)); // axis 4
        let plain = at_gate(&gallery, &probes, SETTINGS);
        assert_eq!((plain.correct, plain.wrong_resident, plain.stranger_granted), (1, 0, 0), "{plain:?}");
        let axis = |k: usize| {
            let mut v = vec![0.0f32; 512];
            v[k] = 1.0;
            v
        };
        let (d3, d4) = (axis(3), axis(4));
        let big = gallery.with_distractors([&d3[..], &d4[..]]);
        assert_eq!((big.identities(), big.distractors()), (4, 2));
        let r = at_gate(&big, &probes, SETTINGS);
        assert_eq!((r.enrolled_identities, r.correct, r.wrong_resident), (4, 1, 1), "{r:?}");
        assert_eq!(r.stranger_granted, 1, "a stranger who looks like a distractor is still granted: {r:?}");
    }
}
