//! CTC decoding over a reader's per-step probabilities, constrained by the plate grammar.
//!
//! A greedy decode takes the best class per step and so can emit text that no plate has (a
//! missing province, an `O` among the serial characters, eight characters where seven fit).
//! [`beam_search`] instead keeps the best few prefixes that can still become a plate
//! ([`PlateNumber::could_start`]) and returns complete plates with their log-probability.
//! [`log_likelihood`] scores any text under a reader (the CTC forward algorithm), which is how
//! two readers' candidates are compared on equal terms, and [`align`] gives each character of a
//! text its confidence (the best probability among the steps the best alignment gives it).
//!
//! All functions take `probs` as `[T, classes]` probabilities (rows sum to 1), class 0 the blank.
//!
//! One glyph rule: the office letter O is drawn like the digit 0, so a 0 read in that place
//! becomes O (and [`crate::plate::PlateReader::labels`] scores an O there with the 0 class).

use menwei_core::plate::PlateNumber;

/// A probability below this is taken as zero when extending beams.
const PRUNE: f32 = 1e-3;

fn lse(a: f32, b: f32) -> f32 {
    if a == f32::NEG_INFINITY {
        return b;
    }
    if b == f32::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

#[derive(Clone, Debug)]
struct Beam {
    labels: Vec<usize>,
    chars: Vec<char>,
    blank: f32,
    non_blank: f32,
}

impl Beam {
    fn total(&self) -> f32 {
        lse(self.blank, self.non_blank)
    }
}

fn merge(next: &mut Vec<Beam>, labels: &[usize], chars: &[char], blank: f32, non_blank: f32) {
    if let Some(b) = next.iter_mut().find(|b| b.labels == labels) {
        b.blank = lse(b.blank, blank);
        b.non_blank = lse(b.non_blank, non_blank);
    } else {
        next.push(Beam { labels: labels.to_vec(), chars: chars.to_vec(), blank, non_blank });
    }
}

/// The `k` most probable complete plates under one reader, best first, as (text, class
/// labels, log-probability). `alphabet` maps the reader's classes to plate characters; other
/// classes are never emitted.
pub fn beam_search(
    probs: &[f32],
    classes: usize,
    alphabet: &[(usize, char)],
    width: usize,
    k: usize,
) -> Vec<(String, Vec<usize>, f32)> {
    let mut beams = vec![Beam { labels: Vec::new(), chars: Vec::new(), blank: 0.0, non_blank: f32::NEG_INFINITY }];
    let mut next: Vec<Beam> = Vec::new();
    let mut labels = Vec::with_capacity(9);
    let mut chars = Vec::with_capacity(9);
    for row in probs.chunks_exact(classes) {
        next.clear();
        let blank = row[0].max(1e-30).ln();
        for b in &beams {
            let total = b.total();
            merge(&mut next, &b.labels, &b.chars, total + blank, f32::NEG_INFINITY);
            if let Some(&last) = b.labels.last() {
                merge(&mut next, &b.labels, &b.chars, f32::NEG_INFINITY, b.non_blank + row[last].max(1e-30).ln());
            }
            for &(class, ch) in alphabet {
                let p = row[class];
                if p < PRUNE {
                    continue;
                }
                chars.clear();
                chars.extend_from_slice(&b.chars);
                // The office letter O (police vehicles) is drawn with the same oval as the
                // digit 0, and a digit cannot stand there: a 0 in that place is an O.
                chars.push(if ch == '0' && b.chars.len() == 1 && b.chars[0] != 'W' && b.chars[0] != '使' {
                    'O'
                } else {
                    ch
                });
                if !PlateNumber::could_start(&chars) {
                    continue;
                }
                labels.clear();
                labels.extend_from_slice(&b.labels);
                labels.push(class);
                // After the same class, only a path that passed through a blank starts a new
                // character.
                let from = if b.labels.last() == Some(&class) { b.blank } else { total };
                merge(&mut next, &labels, &chars, f32::NEG_INFINITY, from + p.ln());
            }
        }
        next.sort_by(|a, b| b.total().total_cmp(&a.total()));
        next.truncate(width);
        std::mem::swap(&mut beams, &mut next);
    }
    let mut out: Vec<(String, Vec<usize>, f32)> = beams
        .into_iter()
        .filter_map(|b| {
            let text: String = b.chars.iter().collect();
            PlateNumber::parse(&text).ok().map(|_| (text, b.labels.clone(), b.total()))
        })
        .collect();
    out.truncate(k);
    out
}

/// log P(labels | probs) summed over every CTC alignment; `-inf` when no alignment fits
/// (more characters than steps allow).
pub fn log_likelihood(probs: &[f32], classes: usize, labels: &[usize]) -> f32 {
    let steps = probs.len() / classes;
    if labels.is_empty() || steps == 0 {
        return probs.chunks_exact(classes).map(|r| r[0].max(1e-30).ln()).sum();
    }
    let s = 2 * labels.len() + 1;
    let ext = |i: usize| if i.is_multiple_of(2) { 0 } else { labels[i / 2] };
    let mut alpha = vec![f32::NEG_INFINITY; s];
    let mut prev = vec![f32::NEG_INFINITY; s];
    let lp = |t: usize, c: usize| probs[t * classes + c].max(1e-30).ln();
    alpha[0] = lp(0, 0);
    alpha[1] = lp(0, ext(1));
    for t in 1..steps {
        std::mem::swap(&mut alpha, &mut prev);
        for i in 0..s {
            let mut a = prev[i];
            if i >= 1 {
                a = lse(a, prev[i - 1]);
            }
            if i >= 2 && ext(i) != 0 && ext(i) != ext(i - 2) {
                a = lse(a, prev[i - 2]);
            }
            alpha[i] = if a == f32::NEG_INFINITY { a } else { a + lp(t, ext(i)) };
        }
    }
    lse(alpha[s - 1], alpha[s - 2])
}

/// For each label, the highest probability among the steps the best (Viterbi) alignment
/// assigns to it; `None` when no alignment fits.
pub fn align(probs: &[f32], classes: usize, labels: &[usize]) -> Option<Vec<f32>> {
    let steps = probs.len() / classes;
    if labels.is_empty() {
        return Some(Vec::new());
    }
    let s = 2 * labels.len() + 1;
    if steps < labels.len() {
        return None;
    }
    let ext = |i: usize| if i.is_multiple_of(2) { 0 } else { labels[i / 2] };
    let lp = |t: usize, c: usize| probs[t * classes + c].max(1e-30).ln();
    let mut score = vec![f32::NEG_INFINITY; s];
    let mut back = vec![0u8; steps * s]; // how far back the state came from: 0, 1 or 2
    score[0] = lp(0, 0);
    score[1] = lp(0, ext(1));
    let mut prev = score.clone();
    for t in 1..steps {
        prev.copy_from_slice(&score);
        for i in 0..s {
            let (mut best, mut from) = (prev[i], 0u8);
            if i >= 1 && prev[i - 1] > best {
                (best, from) = (prev[i - 1], 1);
            }
            if i >= 2 && ext(i) != 0 && ext(i) != ext(i - 2) && prev[i - 2] > best {
                (best, from) = (prev[i - 2], 2);
            }
            score[i] = if best == f32::NEG_INFINITY { best } else { best + lp(t, ext(i)) };
            back[t * s + i] = from;
        }
    }
    let mut i = if score[s - 1] >= score[s - 2] { s - 1 } else { s - 2 };
    if score[i] == f32::NEG_INFINITY {
        return None;
    }
    let mut conf = vec![0.0f32; labels.len()];
    for t in (0..steps).rev() {
        if i % 2 == 1 {
            let p = probs[t * classes + ext(i)];
            conf[i / 2] = conf[i / 2].max(p);
        }
        if t > 0 {
            i -= back[t * s + i] as usize;
        }
    }
    Some(conf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One-hot-ish steps over classes blank, 粤, B, 1..: `seq` gives each step's winner and its
    /// probability; the rest is spread over the other classes.
    fn matrix(classes: usize, seq: &[(usize, f32)]) -> Vec<f32> {
        let mut m = Vec::new();
        for &(c, p) in seq {
            let rest = (1.0 - p) / (classes - 1) as f32;
            m.extend((0..classes).map(|i| if i == c { p } else { rest }));
        }
        m
    }

    fn alphabet() -> (Vec<(usize, char)>, usize) {
        let chars: Vec<char> = "粤BO1234567".chars().collect();
        (chars.iter().enumerate().map(|(i, &c)| (i + 1, c)).collect(), chars.len() + 1)
    }

    #[test]
    fn the_grammar_turns_a_greedy_misread_into_a_plate() {
        let (alpha, classes) = alphabet();
        // Greedy reads "粤BO2345": O is not a serial character; the constrained search takes
        // the runner-up at that step.
        let idx = |c: char| alpha.iter().find(|(_, a)| *a == c).unwrap().0;
        let mut m = matrix(classes, &[(idx('粤'), 0.9), (0, 0.9), (idx('B'), 0.9), (0, 0.9), (idx('O'), 0.6)]);
        // At the O step, 1 is second.
        let o_step = 4 * classes;
        m[o_step + idx('1')] = 0.35;
        let rest: f32 = 1.0 - 0.6 - 0.35;
        for c in 0..classes {
            if c != idx('O') && c != idx('1') {
                m[o_step + c] = rest / (classes - 2) as f32;
            }
        }
        for c in "2345".chars() {
            m.extend(matrix(classes, &[(0, 0.9), (idx(c), 0.9)]));
        }
        let found = beam_search(&m, classes, &alpha, 16, 3);
        assert_eq!(found[0].0, "粤B12345", "{found:?}");
        let ll = log_likelihood(&m, classes, &found[0].1);
        assert!((ll - found[0].2).abs() < 0.5, "beam {} vs forward {ll}", found[0].2);
        let conf = align(&m, classes, &found[0].1).unwrap();
        assert_eq!(conf.len(), 7);
        assert!((conf[2] - 0.35).abs() < 1e-6 && (conf[0] - 0.9).abs() < 1e-6, "{conf:?}");
    }

    #[test]
    fn likelihood_sums_alignments() {
        // Two steps, one label: alignments "a-", "-a", "aa".
        let probs = [0.5, 0.5, 0.25, 0.75];
        let ll = log_likelihood(&probs, 2, &[1]);
        let want = (0.5f32 * 0.25 + 0.5 * 0.75 + 0.5 * 0.75).ln();
        assert!((ll - want).abs() < 1e-6);
        // Repeated labels need a blank between them: impossible in two steps.
        assert_eq!(log_likelihood(&probs, 2, &[1, 1]), f32::NEG_INFINITY);
        assert_eq!(align(&probs, 2, &[1]).unwrap(), vec![0.75]);
    }
}
