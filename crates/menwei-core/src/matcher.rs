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
    ///
    /// A matrix of [`PARALLEL_BYTES`] or more is scanned in one slice per core (scoped threads,
    /// at most eight): one core cannot draw the memory bandwidth that several do, and the scan
    /// is bandwidth-bound. A smaller one is scanned on the caller's thread, where starting
    /// threads would cost more than it saves.
    pub fn nearest(&self, query: &[f32]) -> Option<Nearest> {
        assert_eq!(query.len(), self.dims);
        let parts = if self.bytes() >= PARALLEL_BYTES { cores().min(8) } else { 1 };
        if parts <= 1 {
            return scan(&self.data, &self.owners, self.dims, query);
        }
        let rows = self.owners.len().div_ceil(parts);
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .data
                .chunks(rows * self.dims)
                .zip(self.owners.chunks(rows))
                .enumerate()
                .map(|(k, (data, owners))| {
                    std::thread::Builder::new()
                        .name(format!("menwei-match-{k}"))
                        .spawn_scoped(s, move || scan(data, owners, self.dims, query))
                        .map_err(|_| (data, owners))
                })
                .collect();
            // A slice whose thread could not start is scanned here.
            let parts = handles.into_iter().map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                Err((data, owners)) => scan(data, owners, self.dims, query),
            });
            merge(parts)
        })
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

/// Matrices of this many bytes or more are scanned on every core (see [`TemplateMatrix::nearest`]).
pub const PARALLEL_BYTES: usize = 16 << 20;

fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// One thread's scan of `data` (rows of `dims`, owned by `owners`).
fn scan(data: &[f32], owners: &[u64], dims: usize, query: &[f32]) -> Option<Nearest> {
    let mut best: Option<(u64, f32)> = None;
    let mut runner_up = -1.0f32;
    for (row, &owner) in data.chunks_exact(dims).zip(owners) {
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

/// The result over several slices from each slice's own. A person's templates may lie in
/// several slices: another slice's best counts as the runner-up only when it is another
/// person's, and otherwise that slice's runner-up does.
fn merge(parts: impl Iterator<Item = Option<Nearest>>) -> Option<Nearest> {
    let parts: Vec<Nearest> = parts.flatten().collect();
    let top = parts.iter().copied().reduce(|a, b| if b.score > a.score { b } else { a })?;
    let runner_up =
        parts.iter().map(|p| if p.owner != top.owner { p.score } else { p.runner_up }).fold(-1.0f32, f32::max);
    Some(Nearest { owner: top.owner, score: top.score, runner_up })
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
    fn a_large_matrix_scanned_in_slices_gives_the_one_thread_answer() {
        // 9,000 templates of 512 floats is over PARALLEL_BYTES; owners have templates in
        // several slices, so the runner-up must come from the right slice.
        let dims = 512;
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let mut m = TemplateMatrix::new(dims);
        for i in 0..9_000u64 {
            let v: Vec<f32> = (0..dims).map(|_| next()).collect();
            m.push(i % 7, &unit(&v));
        }
        assert!(m.bytes() >= PARALLEL_BYTES);
        for _ in 0..5 {
            let q = unit(&(0..dims).map(|_| next()).collect::<Vec<_>>());
            let whole = scan(&m.data, &m.owners, dims, &q);
            assert_eq!(m.nearest(&q), whole);
            // The same answer from slices of any size, merged.
            for rows in [1_000, 2_999, 4_500] {
                let parts = m.data.chunks(rows * dims).zip(m.owners.chunks(rows)).map(|(d, o)| scan(d, o, dims, &q));
                assert_eq!(merge(parts), whole, "slices of {rows}");
            }
        }
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (0..13).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..13).map(|i| (i * i) as f32).sum::<f32>());
    }
}
