//! Repeat strangers: unknown faces clustered on the edge box only, with a time-to-live.
//!
//! A face that matches no resident is not a denial, but the same unknown face coming back
//! again and again is worth a grid worker's attention. Each unknown face track's fused
//! embedding joins the nearest cluster (cosine at least `join`) or starts one. A cluster with
//! `repeat` sightings within `window_ms` raises one `security.repeat_stranger` event per window.
//! Clusters are forgotten `window_ms` after their last sighting: nothing about a stranger is
//! kept longer, and nothing leaves the box but a cluster reference.

use crate::matcher::dot;

#[derive(Clone, Debug, PartialEq)]
pub struct StrangerConfig {
    pub join: f32,
    pub repeat: usize,
    pub window_ms: i64,
}

impl Default for StrangerConfig {
    fn default() -> Self {
        Self { join: 0.5, repeat: 3, window_ms: 24 * 3_600_000 }
    }
}

#[derive(Clone, Debug)]
struct Cluster {
    id: u64,
    centroid: Vec<f32>,
    sightings: Vec<i64>,
    reported_at: Option<i64>,
}

/// The clusters of one compound's unknown faces.
#[derive(Clone, Debug, Default)]
pub struct Strangers {
    cfg: StrangerConfig,
    next_id: u64,
    clusters: Vec<Cluster>,
}

/// A repeat stranger to report.
#[derive(Clone, Debug, PartialEq)]
pub struct Repeat {
    pub cluster_ref: String,
    pub sightings: usize,
}

impl Strangers {
    pub fn new(cfg: StrangerConfig) -> Self {
        Self { cfg, next_id: 1, clusters: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// Records an unknown face (a unit embedding) seen at `now_ms`.
    pub fn sighting(&mut self, embedding: &[f32], now_ms: i64) -> Option<Repeat> {
        let window = self.cfg.window_ms;
        self.clusters.retain(|c| c.sightings.last().is_some_and(|&t| now_ms - t < window));
        let best = self
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| (i, dot(&c.centroid, embedding)))
            .filter(|(_, s)| *s >= self.cfg.join)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let i = match best {
            Some((i, _)) => {
                let c = &mut self.clusters[i];
                // A running mean of unit vectors, normalised again.
                let n = c.sightings.len() as f32;
                for (m, e) in c.centroid.iter_mut().zip(embedding) {
                    *m = (*m * n + e) / (n + 1.0);
                }
                let norm = c.centroid.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::EPSILON);
                c.centroid.iter_mut().for_each(|v| *v /= norm);
                c.sightings.push(now_ms);
                i
            }
            None => {
                self.clusters.push(Cluster {
                    id: self.next_id,
                    centroid: embedding.to_vec(),
                    sightings: vec![now_ms],
                    reported_at: None,
                });
                self.next_id += 1;
                self.clusters.len() - 1
            }
        };
        let c = &mut self.clusters[i];
        c.sightings.retain(|&t| now_ms - t < window);
        let due = c.sightings.len() >= self.cfg.repeat && c.reported_at.is_none_or(|r| now_ms - r >= window);
        if due {
            c.reported_at = Some(now_ms);
            return Some(Repeat { cluster_ref: format!("s-{}", c.id), sightings: c.sightings.len() });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..16).map(|i| if i == seed { 1.0 } else { 0.05 }).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    #[test]
    fn the_third_sighting_in_the_window_is_reported_once_and_clusters_expire() {
        let mut s = Strangers::new(StrangerConfig { join: 0.5, repeat: 3, window_ms: 10_000 });
        assert_eq!(s.sighting(&unit(0), 0), None);
        assert_eq!(s.sighting(&unit(1), 100), None, "another person");
        assert_eq!(s.sighting(&unit(0), 1000), None);
        assert_eq!(s.sighting(&unit(0), 2000), Some(Repeat { cluster_ref: "s-1".into(), sightings: 3 }));
        assert_eq!(s.sighting(&unit(0), 3000), None, "reported once per window");
        assert_eq!(s.len(), 2);
        // Long after: everything about them is forgotten.
        assert_eq!(s.sighting(&unit(2), 60_000), None);
        assert_eq!(s.len(), 1);
    }
}
