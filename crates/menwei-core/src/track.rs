//! Tracking detections across frames, and deciding from a track's evidence.
//!
//! A gate needs speed: a track is decided as soon as its evidence agrees (for example after
//! two or three agreeing frames), not when it ends. Faces fuse several best shots weighted by
//! quality; plates vote per character weighted by confidence.

use std::collections::BTreeMap;

use crate::geom::BoxXyxy;

/// A tracked object's id, unique per camera and run.
pub type TrackId = u64;

/// Greedy IoU tracker: each detection joins the live track it overlaps most (at least
/// `min_iou`), or starts a new one; a track unseen for `max_missed` updates ends.
#[derive(Debug, Clone)]
pub struct Tracker {
    next_id: TrackId,
    min_iou: f32,
    max_missed: u32,
    live: Vec<Live>,
}

#[derive(Debug, Clone)]
struct Live {
    id: TrackId,
    bbox: BoxXyxy,
    missed: u32,
    hits: u32,
}

/// The outcome of one update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// For each detection, in order: its track and how many frames that track has had.
    pub assigned: Vec<(TrackId, u32)>,
    /// Tracks that ended in this update.
    pub ended: Vec<TrackId>,
}

impl Tracker {
    pub fn new(min_iou: f32, max_missed: u32) -> Self {
        Self { next_id: 1, min_iou, max_missed, live: Vec::new() }
    }

    pub fn update(&mut self, boxes: &[BoxXyxy]) -> Update {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (d, b) in boxes.iter().enumerate() {
            for (t, l) in self.live.iter().enumerate() {
                let iou = l.bbox.iou(b);
                if iou >= self.min_iou {
                    pairs.push((iou, d, t));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut det_track = vec![None; boxes.len()];
        let mut taken = vec![false; self.live.len()];
        for (_, d, t) in pairs {
            if det_track[d].is_none() && !taken[t] {
                det_track[d] = Some(t);
                taken[t] = true;
            }
        }
        let mut assigned = Vec::with_capacity(boxes.len());
        for (d, b) in boxes.iter().enumerate() {
            match det_track[d] {
                Some(t) => {
                    let l = &mut self.live[t];
                    l.bbox = *b;
                    l.missed = 0;
                    l.hits += 1;
                    assigned.push((l.id, l.hits));
                }
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.live.push(Live { id, bbox: *b, missed: 0, hits: 1 });
                    taken.push(true);
                    assigned.push((id, 1));
                }
            }
        }
        let mut ended = Vec::new();
        for (t, l) in self.live.iter_mut().enumerate() {
            if !taken[t] {
                l.missed += 1;
                if l.missed > self.max_missed {
                    ended.push(l.id);
                }
            }
        }
        self.live.retain(|l| !ended.contains(&l.id));
        Update { assigned, ended }
    }
}

/// Per-character vote over a track's plate reads: the most supported length wins, then each
/// position takes the character with the highest summed confidence. Returns the text and, per
/// character, its share of the position's confidence (1.0 = unanimous).
pub fn vote_plate<'a>(reads: impl IntoIterator<Item = (&'a str, &'a [f32])>) -> Option<(String, Vec<f32>)> {
    let reads: Vec<(Vec<char>, &[f32])> = reads.into_iter().map(|(t, c)| (t.chars().collect(), c)).collect();
    let mut by_len: BTreeMap<usize, f32> = BTreeMap::new();
    for (chars, conf) in &reads {
        *by_len.entry(chars.len()).or_default() += conf.iter().sum::<f32>() / conf.len().max(1) as f32;
    }
    let (&len, _) = by_len.iter().max_by(|a, b| a.1.total_cmp(b.1))?;
    let mut text = String::new();
    let mut shares = Vec::new();
    for i in 0..len {
        let mut votes: BTreeMap<char, f32> = BTreeMap::new();
        for (chars, conf) in reads.iter().filter(|(c, _)| c.len() == len) {
            *votes.entry(chars[i]).or_default() += conf.get(i).copied().unwrap_or(0.0);
        }
        let total: f32 = votes.values().sum();
        let (&ch, &w) = votes.iter().max_by(|a, b| a.1.total_cmp(b.1))?;
        text.push(ch);
        shares.push(if total > 0.0 { w / total } else { 0.0 });
    }
    Some((text, shares))
}

/// One event per passage: remembers when each subject last produced an event at a gate and
/// refuses another within `window_ms`.
#[derive(Debug, Clone, Default)]
pub struct Retrigger {
    window_ms: i64,
    last: BTreeMap<(String, String), i64>,
}

impl Retrigger {
    pub fn new(window_ms: i64) -> Self {
        Self { window_ms, last: BTreeMap::new() }
    }

    /// Whether `subject` at `gate` may produce an event at `now_ms` (and records it if so).
    pub fn allow(&mut self, gate: &str, subject: &str, now_ms: i64) -> bool {
        let key = (gate.to_owned(), subject.to_owned());
        match self.last.get(&key) {
            Some(&t) if now_ms - t < self.window_ms => false,
            _ => {
                self.last.insert(key, now_ms);
                // Forget passages long gone, so the map stays small.
                let horizon = now_ms - 10 * self.window_ms;
                self.last.retain(|_, t| *t >= horizon);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32) -> BoxXyxy {
        BoxXyxy { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 }
    }

    #[test]
    fn tracks_follow_overlapping_boxes_and_end_after_misses() {
        let mut t = Tracker::new(0.3, 1);
        let u = t.update(&[b(0.0), b(100.0)]);
        assert_eq!(u.assigned, vec![(1, 1), (2, 1)]);
        let u = t.update(&[b(101.0), b(1.0)]);
        assert_eq!(u.assigned, vec![(2, 2), (1, 2)]);
        assert!(t.update(&[b(2.0)]).ended.is_empty());
        let u = t.update(&[b(3.0)]);
        assert_eq!(u.ended, vec![2], "track 2 missed twice");
        assert_eq!(u.assigned, vec![(1, 4)]);
        assert_eq!(t.update(&[b(500.0)]).assigned, vec![(3, 1)]);
    }

    #[test]
    fn plate_votes_are_per_character_and_weighted() {
        let reads = [
            ("粤B12345", &[0.9f32, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9][..]),
            ("粤B12845", &[0.9, 0.9, 0.9, 0.9, 0.3, 0.9, 0.9][..]),
            ("粤B1234", &[0.5, 0.5, 0.5, 0.5, 0.5, 0.5][..]),
        ];
        let (text, shares) = vote_plate(reads).unwrap();
        assert_eq!(text, "粤B12345");
        assert!((shares[4] - 0.75).abs() < 1e-6 && shares[0] == 1.0, "{shares:?}");
        assert!(vote_plate(std::iter::empty()).is_none());
    }

    #[test]
    fn one_event_per_passage() {
        let mut r = Retrigger::new(30_000);
        assert!(r.allow("north", "r-7", 0));
        assert!(!r.allow("north", "r-7", 10_000));
        assert!(r.allow("south", "r-7", 10_000));
        assert!(r.allow("north", "r-7", 40_000));
    }
}
