//! The gate's decision: when a face track or a plate track has seen enough to decide.
//!
//! Pure logic, beside [`crate::track`] (which frames belong to one passage) and
//! [`crate::rules`] (what the register makes of a decided identity). The edge feeds each track
//! what the models made of one frame and acts on the verdict it returns; nothing here reads a
//! clock, a file or a model, so every rule is tested below with made-up embeddings and reads.
//!
//! - A face track embeds at most [`MAX_SHOTS`] shots. It names a resident as soon as two shots
//!   agree on them and the fusion of its shots does too, or when the fusion of [`MAX_SHOTS`]
//!   shots does. After [`MAX_SHOTS`] shots that name nobody it is unknown: a stranger's
//!   sighting, never a denial (face recognition is never the only way in).
//! - A plate track collects reads and votes per character ([`crate::track::vote_plate`]). It
//!   is decided when two reads agree with the vote, after [`MAX_READS`] reads, or at once on a
//!   sure read (both readers agree, every character at [`SURE_READ`] or more), so that the
//!   barrier need not wait for a second frame.
//! - A decided track stays decided: a later read or shot that disagrees changes nothing, so a
//!   passage gives one decision.

use crate::matcher::{Decision, TemplateMatrix};
use crate::track::vote_plate;

/// Shots a face track embeds at most.
pub const MAX_SHOTS: usize = 3;
/// Reads after which a plate track decides on its vote, agreeing reads or not.
pub const MAX_READS: usize = 4;
/// A read on which both readers' own best proposals agree, with no character below this
/// confidence, decides its plate track alone. On the EasyPR photos (`menwei-edge analyze`), 106
/// of 110 such reads of the photo's plate were right, against 17 of 21 other reads. The four
/// wrong ones (湘 read as 浙, two final D read as 0, a label with the letter O) are what a second
/// frame of the same view reads again; a second read guards against a frame spoilt by blur or a
/// partial view, which does not read as sure.
pub const SURE_READ: f32 = 0.95;

/// When a face matches a resident: cosine at least `threshold`, and ahead of every other
/// person by at least `margin` (`[matching] face_threshold`, `face_margin`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceRule {
    pub threshold: f32,
    pub margin: f32,
}

impl FaceRule {
    fn decide(self, templates: &TemplateMatrix, query: &[f32]) -> Decision {
        templates.decide(query, self.threshold, self.margin)
    }
}

/// What a face track concluded from its latest shot.
#[derive(Clone, Debug, PartialEq)]
pub enum FaceVerdict {
    /// Not decided: more shots are wanted (or the track was decided before).
    Pending,
    /// A resident, by their index in the template matrix, with the fused shots' score.
    Resident { owner: u64, score: f32, margin: f32 },
    /// [`MAX_SHOTS`] shots and nobody: a stranger's sighting, with the fused embedding (`None`
    /// when the shots cancel out).
    Unknown { fused: Option<Vec<f32>> },
}

/// The shots of one face track and whether it is decided.
#[derive(Clone, Debug, Default)]
pub struct FaceTrack {
    /// Unit embeddings and their weights (quality times size).
    shots: Vec<(Vec<f32>, f32)>,
    /// Whom each shot alone matched.
    votes: Vec<Option<u64>>,
    decided: bool,
}

impl FaceTrack {
    /// Whether another shot would be used: undecided, fewer than [`MAX_SHOTS`].
    pub fn wants_shot(&self) -> bool {
        !self.decided && self.shots.len() < MAX_SHOTS
    }

    pub fn is_decided(&self) -> bool {
        self.decided
    }

    pub fn shots(&self) -> usize {
        self.shots.len()
    }

    /// One more shot (a unit embedding) of weight `weight`.
    pub fn add_shot(
        &mut self,
        embedding: &[f32],
        weight: f32,
        templates: &TemplateMatrix,
        rule: FaceRule,
    ) -> FaceVerdict {
        if !self.wants_shot() {
            return FaceVerdict::Pending;
        }
        self.votes.push(match rule.decide(templates, embedding) {
            Decision::Match { owner, .. } => Some(owner),
            Decision::Unknown { .. } => None,
        });
        self.shots.push((embedding.to_vec(), weight));
        let fused = self.fused();
        let decision = fused.as_deref().map(|f| rule.decide(templates, f));
        let full = self.shots.len() >= MAX_SHOTS;
        let verdict = match (self.agreeing_pair(), decision) {
            // Two shots name the resident, and all shots together agree.
            (Some(owner), Some(Decision::Match { owner: o, score, margin })) if owner == o => {
                FaceVerdict::Resident { owner, score, margin }
            }
            // No two shots agree, but all of them together name someone.
            (None, Some(Decision::Match { owner, score, margin })) if full => {
                FaceVerdict::Resident { owner, score, margin }
            }
            _ if full => FaceVerdict::Unknown { fused },
            _ => FaceVerdict::Pending,
        };
        self.decided = verdict != FaceVerdict::Pending;
        verdict
    }

    /// The track has ended: an undecided track whose shots together match nobody was a
    /// stranger's; its fused embedding is returned for the sighting.
    pub fn ended(&self, templates: &TemplateMatrix, rule: FaceRule) -> Option<Vec<f32>> {
        if self.decided {
            return None;
        }
        let fused = self.fused()?;
        matches!(rule.decide(templates, &fused), Decision::Unknown { .. }).then_some(fused)
    }

    /// A resident named by two shots alone, if any.
    fn agreeing_pair(&self) -> Option<u64> {
        let named: Vec<u64> = self.votes.iter().flatten().copied().collect();
        named.iter().copied().find(|o| named.iter().filter(|x| *x == o).count() >= 2)
    }

    /// The weighted mean of the shots, normalised again.
    fn fused(&self) -> Option<Vec<f32>> {
        fuse(self.shots.iter().map(|(e, w)| (e.as_slice(), *w)))
    }
}

/// A weighted mean of unit embeddings, normalised: `None` when there are none or they cancel.
pub fn fuse<'a>(items: impl IntoIterator<Item = (&'a [f32], f32)>) -> Option<Vec<f32>> {
    let mut acc: Vec<f32> = Vec::new();
    for (e, w) in items {
        if acc.is_empty() {
            acc = vec![0.0; e.len()];
        }
        for (a, x) in acc.iter_mut().zip(e) {
            *a += w * x;
        }
    }
    let norm = acc.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm <= f32::EPSILON {
        return None;
    }
    acc.iter_mut().for_each(|x| *x /= norm);
    Some(acc)
}

/// One read of a plate in one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateRead {
    pub text: String,
    pub char_confidences: Vec<f32>,
    /// The plate's colour and layout as named on the wire (`blue`, `single`...).
    pub color: String,
    pub layout: String,
    /// Both readers' own best proposals were this text.
    pub readers_agree: bool,
    /// The lowest character confidence.
    pub confidence: f32,
}

impl PlateRead {
    fn is_sure_of(&self, text: &str) -> bool {
        self.readers_agree && self.confidence >= SURE_READ && self.text == text
    }
}

/// A plate track's decision: the voted text and what the reads say of it.
#[derive(Clone, Debug, PartialEq)]
pub struct VotedPlate {
    pub text: String,
    /// Per character, the share of the confidence-weighted vote the winning character got.
    pub shares: Vec<f32>,
    /// Colour and layout of the latest read of the voted text.
    pub color: String,
    pub layout: String,
    /// Reads the decision rests on.
    pub reads: usize,
}

impl VotedPlate {
    /// The weakest character's share of the vote.
    pub fn agreement(&self) -> f32 {
        self.shares.iter().copied().fold(1.0, f32::min)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PlateVerdict {
    /// Not decided: more reads are wanted (or the track was decided before).
    Pending,
    Decided(VotedPlate),
}

/// The reads of one plate track and whether it is decided.
#[derive(Clone, Debug, Default)]
pub struct PlateTrack {
    reads: Vec<PlateRead>,
    decided: bool,
}

impl PlateTrack {
    pub fn is_decided(&self) -> bool {
        self.decided
    }

    /// One more read; a decided track ignores it.
    pub fn add_read(&mut self, read: PlateRead) -> PlateVerdict {
        if self.decided {
            return PlateVerdict::Pending;
        }
        self.reads.push(read);
        let Some((text, shares)) =
            vote_plate(self.reads.iter().map(|r| (r.text.as_str(), r.char_confidences.as_slice())))
        else {
            return PlateVerdict::Pending;
        };
        let agreeing = self.reads.iter().filter(|r| r.text == text).count();
        let sure = self.reads.last().is_some_and(|r| r.is_sure_of(&text));
        if agreeing < 2 && self.reads.len() < MAX_READS && !sure {
            return PlateVerdict::Pending;
        }
        self.decided = true;
        let (color, layout) = self
            .reads
            .iter()
            .rev()
            .find(|r| r.text == text)
            .map(|r| (r.color.clone(), r.layout.clone()))
            .unwrap_or_default();
        PlateVerdict::Decided(VotedPlate { text, shares, color, layout, reads: self.reads.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: FaceRule = FaceRule { threshold: 0.4, margin: 0.08 };

    /// A unit vector along axis `i` of 4, tilted towards axis 3 by `t`.
    fn unit(i: usize, t: f32) -> Vec<f32> {
        let mut v = [0.0f32; 4];
        v[i] = 1.0;
        v[3] += t;
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    /// Residents 0 and 1 along axes 0 and 1; axis 2 and 3 are nobody.
    fn register() -> TemplateMatrix {
        let mut m = TemplateMatrix::new(4);
        m.push(0, &unit(0, 0.0));
        m.push(1, &unit(1, 0.0));
        m
    }

    #[test]
    fn two_agreeing_shots_name_the_resident() {
        let (m, mut t) = (register(), FaceTrack::default());
        assert_eq!(t.add_shot(&unit(0, 0.1), 1.0, &m, RULE), FaceVerdict::Pending);
        match t.add_shot(&unit(0, 0.2), 1.0, &m, RULE) {
            FaceVerdict::Resident { owner: 0, score, margin } => assert!(score > 0.9 && margin > 0.9),
            other => panic!("{other:?}"),
        }
        assert!(t.is_decided() && !t.wants_shot());
    }

    #[test]
    fn a_disagreeing_pair_waits_for_a_third_shot() {
        let (m, mut t) = (register(), FaceTrack::default());
        assert_eq!(t.add_shot(&unit(0, 0.0), 1.0, &m, RULE), FaceVerdict::Pending);
        assert_eq!(t.add_shot(&unit(1, 0.0), 1.0, &m, RULE), FaceVerdict::Pending);
        assert!(!t.is_decided() && t.wants_shot());
        // The third shot makes a pair for resident 1, and the fusion leans to them too.
        match t.add_shot(&unit(1, 0.0), 1.0, &m, RULE) {
            FaceVerdict::Resident { owner: 1, .. } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn three_shots_that_agree_on_nobody_are_decided_by_their_fusion() {
        let m = register();
        // Each shot alone is below the threshold (tilted far towards axis 3), their weighted
        // fusion too: unknown, a stranger's sighting, with the fused embedding.
        let mut t = FaceTrack::default();
        for _ in 0..2 {
            assert_eq!(t.add_shot(&unit(0, 3.0), 1.0, &m, RULE), FaceVerdict::Pending);
        }
        match t.add_shot(&unit(2, 0.0), 1.0, &m, RULE) {
            FaceVerdict::Unknown { fused: Some(f) } => {
                assert!((f.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5)
            }
            other => panic!("{other:?}"),
        }
        // Three shots none of which matches alone (each tilted away from resident 0, one up
        // and one down), whose fusion names resident 0: decided after the third.
        let mut t = FaceTrack::default();
        assert_eq!(t.add_shot(&unit(0, 2.5), 1.0, &m, RULE), FaceVerdict::Pending);
        assert_eq!(t.add_shot(&unit(0, -2.5), 1.0, &m, RULE), FaceVerdict::Pending, "two shots are not fused yet");
        let verdict = t.add_shot(&unit(2, 0.0), 0.1, &m, RULE);
        assert!(matches!(verdict, FaceVerdict::Resident { owner: 0, .. }), "{verdict:?}");
    }

    #[test]
    fn a_pair_the_fusion_contradicts_is_not_a_match() {
        let m = register();
        // Two light shots name resident 0; a heavy third names resident 1: the fusion leans
        // to 1, so the pair does not decide and nor does the fusion (no pair agrees with it).
        let mut t = FaceTrack::default();
        t.add_shot(&unit(1, 0.0), 10.0, &m, RULE);
        t.add_shot(&unit(0, 0.0), 0.1, &m, RULE);
        let verdict = t.add_shot(&unit(0, 0.0), 0.1, &m, RULE);
        assert!(matches!(verdict, FaceVerdict::Unknown { .. }), "{verdict:?}");
    }

    #[test]
    fn a_decided_face_track_takes_no_more_shots() {
        let (m, mut t) = (register(), FaceTrack::default());
        t.add_shot(&unit(0, 0.0), 1.0, &m, RULE);
        assert!(matches!(t.add_shot(&unit(0, 0.0), 1.0, &m, RULE), FaceVerdict::Resident { .. }));
        // A late shot of someone else changes nothing.
        assert_eq!(t.add_shot(&unit(1, 0.0), 5.0, &m, RULE), FaceVerdict::Pending);
        assert_eq!(t.shots(), 2);
        assert_eq!(t.ended(&m, RULE), None, "a decided track is no stranger");
    }

    #[test]
    fn a_track_that_leaves_undecided_is_a_stranger_only_if_it_matches_nobody() {
        let m = register();
        let mut stranger = FaceTrack::default();
        stranger.add_shot(&unit(2, 0.0), 1.0, &m, RULE);
        assert!(stranger.ended(&m, RULE).is_some());
        let mut resident = FaceTrack::default();
        resident.add_shot(&unit(0, 0.0), 1.0, &m, RULE);
        assert_eq!(resident.ended(&m, RULE), None);
        assert_eq!(FaceTrack::default().ended(&m, RULE), None, "no shot, no sighting");
    }

    fn read(text: &str, conf: f32, agree: bool) -> PlateRead {
        PlateRead {
            text: text.into(),
            char_confidences: vec![conf; text.chars().count()],
            color: "blue".into(),
            layout: "single".into(),
            readers_agree: agree,
            confidence: conf,
        }
    }

    #[test]
    fn two_agreeing_reads_decide_a_plate() {
        let mut t = PlateTrack::default();
        assert_eq!(t.add_read(read("川A019W2", 0.9, false)), PlateVerdict::Pending);
        match t.add_read(read("川A019W2", 0.8, false)) {
            PlateVerdict::Decided(v) => {
                assert_eq!((v.text.as_str(), v.reads, v.color.as_str()), ("川A019W2", 2, "blue"));
                assert_eq!(v.agreement(), 1.0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sure_read_decides_alone_and_an_unsure_one_does_not() {
        let mut t = PlateTrack::default();
        assert!(matches!(t.add_read(read("川A019W2", 0.97, true)), PlateVerdict::Decided(_)));
        // Sure characters but the readers disagreed, or agreeing readers below SURE_READ.
        let mut t = PlateTrack::default();
        assert_eq!(t.add_read(read("川A019W2", 0.99, false)), PlateVerdict::Pending);
        let mut t = PlateTrack::default();
        assert_eq!(t.add_read(read("川A019W2", 0.94, true)), PlateVerdict::Pending);
    }

    #[test]
    fn four_disagreeing_reads_decide_on_the_vote() {
        let mut t = PlateTrack::default();
        for text in ["川A019W2", "川A019W7", "川A0I9W2"] {
            assert_eq!(t.add_read(read(text, 0.6, false)), PlateVerdict::Pending, "{text}");
        }
        match t.add_read(read("州A019W2", 0.6, false)) {
            PlateVerdict::Decided(v) => {
                // Per character the majority: 川 3 of 4, 1 3 of 4, 2 3 of 4.
                assert_eq!((v.text.as_str(), v.reads), ("川A019W2", 4));
                assert!((v.agreement() - 0.75).abs() < 1e-6, "{:?}", v.shares);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_late_contradicting_read_changes_nothing() {
        let mut t = PlateTrack::default();
        t.add_read(read("川A019W2", 0.9, false));
        assert!(matches!(t.add_read(read("川A019W2", 0.9, false)), PlateVerdict::Decided(_)));
        assert_eq!(t.add_read(read("川AKQ291", 0.99, true)), PlateVerdict::Pending);
        assert!(t.is_decided());
    }

    #[test]
    fn fusion_is_a_weighted_unit_mean() {
        let f = fuse([(&[1.0, 0.0][..], 3.0), (&[0.0, 1.0][..], 1.0)]).unwrap();
        assert!((f[0] - 0.9486833).abs() < 1e-6 && (f[1] - 0.31622776).abs() < 1e-6, "{f:?}");
        assert_eq!(fuse([(&[1.0, 0.0][..], 1.0), (&[-1.0, 0.0][..], 1.0)]), None);
        assert_eq!(fuse(std::iter::empty()), None);
    }
}
