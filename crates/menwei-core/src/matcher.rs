//! Open-set 1:N face matching over one contiguous template matrix.
//!
//! Templates are unit vectors stored row after row in a single `Vec<f32>`, so a query is one
//! sequential scan: the time per query is bounded by memory bandwidth, not by pointer chasing.
//! The scan keeps the best score per *person* (a person may have several templates), and a
//! match needs both a threshold and a margin over the second-best person, so that two similar
//! people do not get confused at the threshold.

/// Templates of `dims` floats, each owned by a person id.
#[derive(Clone, Debug, Default)]
pub struct TemplateMatrix {
    dims: usize,
    data: Vec<f32>,
    owners: Vec<u64>,
}

/// The result of a query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nearest {
    pub owner: u64,
    pub score: f32,
    /// The best score of any *other* owner (-1 when there is none).
    pub runner_up: f32,
}

/// The decision for a query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    Match {
        owner: u64,
        score: f32,
        margin: f32,
    },
    /// Best score below the threshold, or too close to another person.
    Unknown {
        best: Option<Nearest>,
    },
}

impl TemplateMatrix {
    pub fn new(dims: usize) -> Self {
        Self { dims, data: Vec::new(), owners: Vec::new() }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// Adds a template; it must have `dims` values.
    pub fn push(&mut self, owner: u64, template: &[f32]) {
        assert_eq!(template.len(), self.dims, "template has {} values, the matrix {}", template.len(), self.dims);
        self.data.extend_from_slice(template);
        self.owners.push(owner);
    }

    /// Removes every template of `owner` (erasure), keeping the matrix contiguous.
    pub fn remove_owner(&mut self, owner: u64) -> usize {
        let before = self.owners.len();
        let mut w = 0;
        for r in 0..before {
            if self.owners[r] != owner {
                if w != r {
                    self.owners[w] = self.owners[r];
                    self.data.copy_within(r * self.dims..(r + 1) * self.dims, w * self.dims);
                }
                w += 1;
            }
        }
        self.owners.truncate(w);
        self.data.truncate(w * self.dims);
        before - w
    }

    /// Bytes scanned per query.
    pub fn bytes(&self) -> usize {
        self.data.len() * std::mem::size_of::<f32>()
    }

    /// The best-scoring owner and the best score of any other owner.
    pub fn nearest(&self, query: &[f32]) -> Option<Nearest> {
        assert_eq!(query.len(), self.dims);
        let mut best: Option<(u64, f32)> = None;
        let mut runner_up = -1.0f32;
        for (row, &owner) in self.data.chunks_exact(self.dims).zip(&self.owners) {
            let s = dot(row, query);
            match best {
                Some((o, b)) if s > b => {
                    if o != owner {
                        runner_up = runner_up.max(b);
                    }
                    best = Some((owner, s));
                }
                Some((o, _)) => {
                    if o != owner {
                        runner_up = runner_up.max(s);
                    }
                }
                None => best = Some((owner, s)),
            }
        }
        best.map(|(owner, score)| Nearest { owner, score, runner_up })
    }

    /// Matches `query` when the best person scores at least `threshold` and beats every other
    /// person by at least `margin`.
    pub fn decide(&self, query: &[f32], threshold: f32, margin: f32) -> Decision {
        match self.nearest(query) {
            // With no other person, or only dissimilar ones, the margin is measured from 0.
            Some(n) if n.score >= threshold && n.score - n.runner_up.max(0.0) >= margin => {
                Decision::Match { owner: n.owner, score: n.score, margin: n.score - n.runner_up.max(0.0) }
            }
            best => Decision::Unknown { best },
        }
    }
}

/// Dot product with eight independent accumulators, so the compiler vectorises it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn best_person_with_a_margin_over_the_next_person() {
        let mut m = TemplateMatrix::new(3);
        m.push(1, &unit(&[1.0, 0.0, 0.0]));
        m.push(1, &unit(&[1.0, 0.1, 0.0]));
        m.push(2, &unit(&[0.0, 1.0, 0.0]));
        m.push(3, &unit(&[0.7, 0.7, 0.0]));
        let q = unit(&[1.0, 0.05, 0.0]);
        let n = m.nearest(&q).unwrap();
        assert_eq!(n.owner, 1);
        // The runner-up is person 3, not person 1's second template.
        assert!((n.runner_up - dot(&q, &unit(&[0.7, 0.7, 0.0]))).abs() < 1e-6);
        assert!(matches!(m.decide(&q, 0.5, 0.1), Decision::Match { owner: 1, .. }));
        // Between persons 1 and 3: above the threshold but no margin.
        let between = unit(&[0.9, 0.45, 0.0]);
        assert!(matches!(m.decide(&between, 0.5, 0.1), Decision::Unknown { best: Some(_) }));
        assert_eq!(m.remove_owner(1), 2);
        assert_eq!(m.len(), 2);
        assert!(!matches!(m.decide(&q, 0.5, 0.1), Decision::Match { owner: 1, .. }));
        assert!(TemplateMatrix::new(3).nearest(&q).is_none());
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (0..13).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..13).map(|i| (i * i) as f32).sum::<f32>());
    }
}
