//! Licence-plate recognition end to end: detect, cut out, decide the row layout, read with
//! every configured reader, and pick the plate the evidence supports.
//!
//! Why it is shaped this way:
//! - **Two readers are stronger together.** clp_rec and PP-OCRv4 make different mistakes. Each
//!   proposes its best few plates through a grammar-constrained beam search
//!   ([`crate::ctc::beam_search`]); every proposal is then scored under *every* reader with the
//!   CTC forward algorithm, and the sum of log-likelihoods decides (a product of experts). A
//!   plate both readers find likely wins; a character one reader cannot even represent costs
//!   that reader a fixed penalty instead of vetoing the plate.
//! - **The grammar is a constraint, not a filter.** A greedy read with a missing province or an
//!   `O` in the serial is not thrown away: the search takes the best plate that the
//!   probabilities allow. A crop from which no plate can be read confidently is reported as
//!   rejected, with the reason, never as a plate.
//! - **The layout is decided by content.** A double-row plate (motorcycles, trucks' rear) and a
//!   single-row one can have similar outlines, so a plate whose outline is not clearly wide is
//!   read both ways (as it is, and with its top row cut out and placed left of the bottom row),
//!   and the readers' likelihoods decide. The detector often boxes only the bottom row of a
//!   double-row plate, so a wide yellow plate is also read with its outline extended
//!   upwards as a double-row one.
//! - **The readers' lean on 皖 is taken out.** Both readers learnt from CCPD, almost all
//!   Anhui, and say 皖 when the province character is unclear. Each reader's lean, measured on
//!   crops with the province covered (`reader_priors.toml`), is half taken out of its score,
//!   and the top proposal is joined by its variants in every province so that another
//!   province can win; a sure read is never turned by it.
//! - **Colour from the crop**: the majority background class in HSV, with the kind's colour
//!   (green new-energy, white police, black Hong Kong) taking precedence where the text fixes it.

use std::path::Path;

use menwei_core::geom::Point;
use menwei_core::image::RgbView;
use menwei_core::plate::{PlateColor, PlateLayout, PlateNumber};
use serde::Serialize;

use crate::VisionError;
use crate::ctc;
use crate::plate::{PlateDetection, PlateDetector, PlateReader, warp_quad};

/// Settings of the recognition step.
#[derive(Clone, Debug, PartialEq)]
pub struct LprConfig {
    /// A plate whose characters' mean confidence is below this is rejected.
    pub min_mean_confidence: f32,
    /// A plate with a character below this is rejected.
    pub min_confidence: f32,
    /// Weight of each reader's log-likelihood in the fusion, in reader order (missing = 1).
    pub reader_weights: Vec<f32>,
    /// Beam width of the constrained search, and proposals kept per reader.
    pub beam: usize,
    pub proposals: usize,
    /// Plates whose outline (width / height) is at most this are also read as double-row.
    pub double_row_max_aspect: f32,
    /// Log-likelihood handicap of a double-row reading: single-row plates are far more common,
    /// so a double-row reading must be clearly better to win.
    pub double_row_penalty: f32,
    /// Log-prior handicap of the kinds that no photo here shows (民航, 应急, military): rare at a
    /// compound gate (taken as 1 in 1,000 vehicles, ln 1000), so a reading of one must be
    /// clearly better than any other reading to win, and text that is no plate at all (a
    /// camera's burned-in clock) does not turn into one. Not fitted on any photo.
    pub rare_kind_penalty: f32,
    /// The deployment's prior on the first characters (none by default).
    pub home: HomePrior,
    /// Per reader (in reader order), its own lean on the province character: `ln(31 p)` for
    /// each province, where `p` is the reader's share of that province on crops whose province
    /// is covered (`reader_priors.toml`); empty: no correction.
    pub province_bias: Vec<Vec<(char, f32)>>,
    /// How much of each reader's lean is taken out of its score (0: none, 1: all). 0.5, chosen
    /// on the CCPD-style crops and EasyPR (docs/design/vision.md); the hand-labelled set was
    /// only checked.
    pub province_bias_strength: f32,
}

/// Where most plates at this gate come from: a compound in 张家口 sees mostly 冀G, but visitors
/// come from everywhere.
///
/// It is a prior, never a rewrite. Each reader proposal is joined by its variants with a home
/// province in first place; every candidate is then scored by the readers' likelihoods as
/// always, and a candidate that starts with a home province gains `weight` (natural log: the
/// default ln 4 says a home plate is four times as likely as any other before the picture is
/// seen), one that also starts with a home prefix (province + office letter) gains `weight / 2`
/// more. Two readers that each give the read first character 90 % and the home one 1 % differ
/// by about 9 in log-likelihood, far more than the prior: a confident read of another province
/// stands. Only a first character the readers are unsure of leans home.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HomePrior {
    pub provinces: Vec<char>,
    /// Province character + office letter, such as `冀G`.
    pub prefixes: Vec<String>,
    pub weight: f32,
}

impl HomePrior {
    /// The default weight: ln 4.
    pub const WEIGHT: f32 = 1.386_294_4;

    fn bonus(&self, text: &str) -> f32 {
        let Some(first) = text.chars().next() else { return 0.0 };
        if !self.provinces.contains(&first) {
            return 0.0;
        }
        let prefix = self.prefixes.iter().any(|p| text.starts_with(p.as_str()));
        self.weight * if prefix { 1.5 } else { 1.0 }
    }

    /// `text` with each home province in first place, where that is a plate.
    fn variants(&self, text: &str) -> Vec<String> {
        with_first(text, self.provinces.iter().copied())
    }
}

impl Default for LprConfig {
    fn default() -> Self {
        Self {
            min_mean_confidence: 0.5,
            min_confidence: 0.03,
            reader_weights: Vec::new(),
            beam: 16,
            proposals: 4,
            double_row_max_aspect: 2.6,
            double_row_penalty: 3.0,
            rare_kind_penalty: 1000f32.ln(),
            home: HomePrior::default(),
            province_bias: Vec::new(),
            province_bias_strength: 0.5,
        }
    }
}

/// What became of one plate-like region.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum PlateOutcome {
    Read(PlateReading),
    /// Not published as a plate: `raw` is what the first reader saw, `reason` why it is not a
    /// plate.
    Rejected {
        raw: String,
        reason: String,
    },
}

impl PlateOutcome {
    pub fn reading(&self) -> Option<&PlateReading> {
        match self {
            PlateOutcome::Read(r) => Some(r),
            PlateOutcome::Rejected { .. } => None,
        }
    }
}

/// A plate read and checked against the grammar.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlateReading {
    pub plate: PlateNumber,
    pub color: PlateColor,
    pub layout: PlateLayout,
    /// Per character, the mean over the readers of its aligned probability.
    pub char_confidences: Vec<f32>,
    /// The weakest character's confidence.
    pub confidence: f32,
    /// Whether every reader's own best proposal was this plate.
    pub readers_agree: bool,
}

/// A detection with what was read from it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlateResult {
    pub detection: PlateDetection,
    pub outcome: PlateOutcome,
}

/// The detector, the readers and their scratch buffers. Owned by one inference thread.
#[derive(Debug)]
pub struct Lpr {
    pub detector: PlateDetector,
    readers: Vec<PlateReader>,
    cfg: LprConfig,
    warped: Vec<u8>,
    double: Vec<Vec<u8>>,
    stacked: Vec<Vec<u8>>,
    /// Per layout (single, double), each reader's probabilities of the last read.
    stash_probs: Vec<Vec<(Vec<f32>, usize)>>,
}

/// Where a reader cannot represent a character, it scores the plate this much (natural log).
const UNREPRESENTABLE: f32 = -12.0;
/// A value per province character.
pub type ProvinceTable = Vec<(char, f32)>;

/// Each reader's lean on the province character, from `reader_priors.toml` (measured by
/// `menwei-edge eval reader-prior`), for `readers` in reader order: a reader whose file's
/// sha256 does not start with the table's prefix gets no correction (empty).
pub fn province_bias_for(readers: &[&crate::VerifiedModel]) -> Vec<Vec<(char, f32)>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        sha256_prefix: String,
        bias: std::collections::BTreeMap<String, f32>,
    }
    let table: std::collections::BTreeMap<String, Entry> =
        toml::from_str(include_str!("reader_priors.toml")).expect("reader_priors.toml parses");
    readers
        .iter()
        .map(|m| match table.get(&m.entry.name) {
            Some(e) if m.entry.sha256.starts_with(&e.sha256_prefix) => {
                e.bias.iter().filter_map(|(c, b)| c.chars().next().map(|c| (c, *b))).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

/// `text` with every other province in first place, where that is a plate (only for a plate
/// that starts with a province).
fn province_variants(text: &str) -> Vec<String> {
    match text.chars().next() {
        Some(first) if menwei_core::plate::PROVINCES.contains(first) => {
            with_first(text, menwei_core::plate::PROVINCES.chars())
        }
        _ => Vec::new(),
    }
}

/// `text` with each of `firsts` (other than its own) as its first character, where that is a
/// plate.
fn with_first(text: &str, firsts: impl Iterator<Item = char>) -> Vec<String> {
    let mut chars = text.chars();
    let Some(first) = chars.next() else { return Vec::new() };
    let rest = chars.as_str();
    firsts
        .filter(|p| *p != first)
        .map(|p| format!("{p}{rest}"))
        .filter(|t| PlateNumber::parse(t).is_ok_and(|n| n.as_str() == t))
        .collect()
}

/// The single-row warp and the double-row warp (about a 220 x 140 mm plate).
const SINGLE: (u32, u32) = (168, 48);
const DOUBLE: (u32, u32) = (176, 112);

struct Candidate {
    text: String,
    layout: PlateLayout,
    /// Which view it was read from.
    slot: usize,
    score: f32,
}

impl Lpr {
    /// Each reader's probability mass over the province characters on `crop`, summed over the
    /// output steps and normalised to 1: on a crop whose province is covered, the reader's
    /// own prior (what it says without evidence).
    pub fn province_mass(&mut self, crop: RgbView<'_>) -> Result<Vec<(&'static str, ProvinceTable)>, VisionError> {
        let mut out = Vec::new();
        for reader in &mut self.readers {
            reader.infer(crop)?;
            let (probs, classes) = reader.probs();
            let provinces: Vec<(usize, char)> =
                reader.alphabet().iter().copied().filter(|(_, c)| menwei_core::plate::PROVINCES.contains(*c)).collect();
            let mut mass: Vec<(char, f32)> = provinces.iter().map(|&(_, c)| (c, 0.0)).collect();
            for row in probs.chunks_exact(classes) {
                for (m, &(col, _)) in mass.iter_mut().zip(&provinces) {
                    m.1 += row[col];
                }
            }
            let total: f32 = mass.iter().map(|m| m.1).sum::<f32>().max(1e-12);
            mass.iter_mut().for_each(|m| m.1 /= total);
            out.push((reader.name(), mass));
        }
        Ok(out)
    }

    /// Replaces the deployment's home prior (the register or the config changed).
    pub fn set_home(&mut self, home: HomePrior) {
        self.cfg.home = home;
    }

    pub fn new(detector: PlateDetector, readers: Vec<PlateReader>, cfg: LprConfig) -> Result<Self, VisionError> {
        if readers.is_empty() {
            return Err(VisionError::Config("plate recognition needs at least one reader".into()));
        }
        Ok(Self {
            detector,
            readers,
            cfg,
            warped: Vec::new(),
            double: Vec::new(),
            stacked: Vec::new(),
            stash_probs: Vec::new(),
        })
    }

    pub fn readers(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.readers.iter().map(PlateReader::name)
    }

    /// Detects plates in `part`, a part of a `whole` picture, at the whole picture's scale,
    /// without reading them (see [`Lpr::read_quad`]). Boxes are in `part` pixels.
    pub fn detect_in(
        &mut self,
        part: RgbView<'_>,
        whole: (u32, u32),
    ) -> Result<Vec<crate::plate::PlateDetection>, VisionError> {
        self.detector.detect_in(part, whole)
    }

    /// Detects plates in `frame` and reads each one.
    pub fn recognise(&mut self, frame: RgbView<'_>) -> Result<Vec<PlateResult>, VisionError> {
        let detections = self.detector.detect(frame)?;
        let mut out = Vec::with_capacity(detections.len());
        for detection in detections {
            let outcome = self.read_quad(frame, detection.corners)?;
            out.push(PlateResult { detection, outcome });
        }
        Ok(out)
    }

    /// Reads the plate whose corners are `corners` in `frame`.
    pub fn read_quad(&mut self, frame: RgbView<'_>, corners: [Point; 4]) -> Result<PlateOutcome, VisionError> {
        let mut warped = std::mem::take(&mut self.warped);
        let mut double = std::mem::take(&mut self.double);
        let result = (|| {
            let pre = menwei_core::profile::enter(menwei_core::profile::Stage::Preprocess);
            if warp_quad(frame, corners, SINGLE.0, SINGLE.1, &mut warped).is_err() {
                return Ok(PlateOutcome::Rejected { raw: String::new(), reason: "degenerate corners".into() });
            }
            let single = RgbView::packed(SINGLE.0, SINGLE.1, &warped).expect("warp output");
            let aspect = quad_aspect(&corners);
            // A narrow outline may be a whole double-row plate. The detector, trained on
            // single-row plates, also often boxes only the bottom row of a yellow double-row
            // plate (trucks, motorcycles), whose top row then sits above the box, about a third of its height:
            // such plates are also read with the outline extended upwards.
            let mut quads = Vec::with_capacity(2);
            if aspect <= self.cfg.double_row_max_aspect {
                quads.push(corners);
            }
            if color_of(single) == PlateColor::Yellow {
                let up = |top: Point, bottom: Point| Point {
                    x: top.x + (top.x - bottom.x) * 0.35,
                    y: top.y + (top.y - bottom.y) * 0.35,
                };
                quads.push([up(corners[0], corners[3]), up(corners[1], corners[2]), corners[2], corners[3]]);
            }
            double.resize_with(quads.len(), Vec::new);
            let mut views = Vec::with_capacity(2);
            for (q, buf) in quads.iter().zip(double.iter_mut()) {
                if warp_quad(frame, *q, DOUBLE.0, DOUBLE.1, buf).is_ok() {
                    views.push(RgbView::packed(DOUBLE.0, DOUBLE.1, buf).expect("warp output"));
                }
            }
            drop(pre);
            self.read_views(single, &views)
        })();
        self.warped = warped;
        self.double = double;
        result
    }

    /// Reads an already cut-out, upright plate. Crops that are not clearly wide are also read
    /// as double-row.
    pub fn read_crop(&mut self, crop: RgbView<'_>) -> Result<PlateOutcome, VisionError> {
        let aspect = crop.width() as f32 / crop.height().max(1) as f32;
        if aspect <= self.cfg.double_row_max_aspect {
            self.read_views(crop, &[crop])
        } else {
            self.read_views(crop, &[])
        }
    }

    fn read_views(&mut self, single: RgbView<'_>, doubles: &[RgbView<'_>]) -> Result<PlateOutcome, VisionError> {
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut raw = String::new();
        let mut own_best: Vec<Option<String>> = Vec::new();
        let color_votes = color_of(single);

        let mut stacked = std::mem::take(&mut self.stacked);
        stacked.resize_with(doubles.len(), Vec::new);
        for (d, buf) in doubles.iter().zip(stacked.iter_mut()) {
            stack_rows(*d, buf);
        }
        const STACKED_H: u32 = 48;
        let mut views = vec![(PlateLayout::SingleRow, single)];
        for buf in &stacked {
            let w = (buf.len() / 3) as u32 / STACKED_H;
            views.push((PlateLayout::DoubleRow, RgbView::packed(w, STACKED_H, buf).expect("stacked rows")));
        }
        if let Some(dir) = std::env::var_os("MENWEI_LPR_DUMP") {
            for (_, v) in &views {
                dump(Path::new(&dir), *v);
            }
        }
        for (slot, (layout, view)) in views.into_iter().enumerate() {
            let mut proposals: Vec<String> = Vec::new();
            let mut per_reader_probs: Vec<(Vec<f32>, usize)> = Vec::new();
            for (i, reader) in self.readers.iter_mut().enumerate() {
                reader.infer(view)?;
                let (probs, classes) = reader.probs();
                if i == 0 && layout == PlateLayout::SingleRow {
                    raw = reader.greedy().text;
                }
                let found = ctc::beam_search(probs, classes, reader.alphabet(), self.cfg.beam, self.cfg.proposals);
                if layout == PlateLayout::SingleRow {
                    own_best.push(found.first().map(|f| f.0.clone()));
                }
                let all_provinces = self.cfg.province_bias_strength > 0.0 && !self.cfg.province_bias.is_empty();
                for (k, (text, _, _)) in found.into_iter().enumerate() {
                    let every = if all_provinces && k == 0 { province_variants(&text) } else { Vec::new() };
                    for t in std::iter::once(text.clone()).chain(self.cfg.home.variants(&text)).chain(every) {
                        if !proposals.contains(&t) {
                            proposals.push(t);
                        }
                    }
                }
                per_reader_probs.push((probs.to_vec(), classes));
            }
            for text in proposals {
                let mut score = 0.0;
                for (i, (reader, (probs, classes))) in self.readers.iter().zip(&per_reader_probs).enumerate() {
                    score += self.cfg.reader_weights.get(i).copied().unwrap_or(1.0)
                        * match reader.labels(&text) {
                            Some(labels) => ctc::log_likelihood(probs, *classes, &labels).max(UNREPRESENTABLE * 3.0),
                            None => UNREPRESENTABLE,
                        };
                }
                if layout == PlateLayout::DoubleRow {
                    score -= self.cfg.double_row_penalty;
                }
                if is_rare_kind(&text) {
                    score -= self.cfg.rare_kind_penalty;
                }
                score += self.cfg.home.bonus(&text);
                if let Some(first) = text.chars().next() {
                    for (i, bias) in self.cfg.province_bias.iter().enumerate() {
                        let w = self.cfg.reader_weights.get(i).copied().unwrap_or(1.0);
                        if let Some((_, b)) = bias.iter().find(|(c, _)| *c == first) {
                            score -= w * self.cfg.province_bias_strength * b;
                        }
                    }
                }
                candidates.push(Candidate { text, layout, slot, score });
            }
            // Keep each view's probabilities for the confidences of the winner.
            self.stash(slot, per_reader_probs);
        }
        self.stacked = stacked;

        let Some(best) = candidates.into_iter().max_by(|a, b| a.score.total_cmp(&b.score)) else {
            let reason = match PlateNumber::parse(&raw) {
                Err(e) => format!("not a plate: {e}"),
                Ok(_) => "no plate reading fits the reader's output".into(),
            };
            return Ok(PlateOutcome::Rejected { raw, reason });
        };
        let slot = best.slot;
        let mut sums = vec![0.0f32; best.text.chars().count()];
        let mut n = 0usize;
        for (reader, (probs, classes)) in self.readers.iter().zip(&self.stash_probs[slot]) {
            if let Some(conf) = reader.labels(&best.text).and_then(|l| ctc::align(probs, *classes, &l)) {
                for (s, c) in sums.iter_mut().zip(conf) {
                    *s += c;
                }
                n += 1;
            }
        }
        let char_confidences: Vec<f32> = sums.iter().map(|s| s / n.max(1) as f32).collect();
        let confidence = char_confidences.iter().copied().fold(1.0f32, f32::min);
        let mean = char_confidences.iter().sum::<f32>() / char_confidences.len().max(1) as f32;
        let plate = PlateNumber::parse(&best.text).expect("candidates are valid plates");
        if confidence < self.cfg.min_confidence || mean < self.cfg.min_mean_confidence {
            return Ok(PlateOutcome::Rejected {
                raw,
                reason: format!(
                    "low confidence: best plate {plate}, mean {mean:.2} (minimum {:.2}), weakest character {confidence:.2} \
                     (minimum {:.2})",
                    self.cfg.min_mean_confidence, self.cfg.min_confidence
                ),
            });
        }
        let readers_agree = own_best.iter().all(|b| b.as_deref() == Some(best.text.as_str()));
        let color = plate.kind_color().unwrap_or(color_votes);
        Ok(PlateOutcome::Read(PlateReading {
            plate,
            color,
            layout: best.layout,
            char_confidences,
            confidence,
            readers_agree,
        }))
    }

    fn stash(&mut self, slot: usize, probs: Vec<(Vec<f32>, usize)>) {
        if self.stash_probs.len() <= slot {
            self.stash_probs.resize(slot + 1, Vec::new());
        }
        self.stash_probs[slot] = probs;
    }
}

/// Width over height of a quadrilateral (mean of opposite sides).
/// Whether `text` (a grammatical candidate) is of a kind [`LprConfig::rare_kind_penalty`]
/// handicaps.
fn is_rare_kind(text: &str) -> bool {
    use menwei_core::plate::PlateKind;
    PlateNumber::parse(text)
        .is_ok_and(|p| matches!(p.kind(), PlateKind::CivilAviation | PlateKind::Emergency | PlateKind::Military))
}

pub fn quad_aspect(c: &[Point; 4]) -> f32 {
    let d = |a: Point, b: Point| (a.x - b.x).hypot(a.y - b.y);
    let w = (d(c[0], c[1]) + d(c[3], c[2])) / 2.0;
    let h = (d(c[0], c[3]) + d(c[1], c[2])) / 2.0;
    if h > 0.0 { w / h } else { f32::INFINITY }
}

/// Cuts a double-row plate into its rows and places the top row left of the bottom row, both
/// 48 px high, in `out` (packed RGB, 48 rows). The top row (province and office letter) sits
/// in the middle of the upper third; the bottom row fills the lower part.
pub fn stack_rows(plate: RgbView<'_>, out: &mut Vec<u8>) {
    let (w, h) = (plate.width() as f32, plate.height() as f32);
    let top = (0.2 * w, 0.04 * h, 0.8 * w, 0.40 * h);
    let bottom = (0.03 * w, 0.36 * h, 0.97 * w, 0.96 * h);
    let rh = 48u32;
    let tw = (((top.2 - top.0) / (top.3 - top.1)) * rh as f32).round().max(1.0) as u32;
    let bw = (((bottom.2 - bottom.0) / (bottom.3 - bottom.1)) * rh as f32).round().max(1.0) as u32;
    let total = tw + bw;
    out.clear();
    out.resize((total * rh * 3) as usize, 0);
    for (x_off, rect, rw) in [(0u32, top, tw), (tw, bottom, bw)] {
        for y in 0..rh {
            let sy = rect.1 + (y as f32 + 0.5) * (rect.3 - rect.1) / rh as f32 - 0.5;
            for x in 0..rw {
                let sx = rect.0 + (x as f32 + 0.5) * (rect.2 - rect.0) / rw as f32 - 0.5;
                let px = bilinear(plate, sx, sy);
                let o = ((y * total + x_off + x) * 3) as usize;
                out[o..o + 3].copy_from_slice(&px);
            }
        }
    }
}

/// Writes a view the readers see as a PNG, for tuning (`MENWEI_LPR_DUMP=dir`).
fn dump(dir: &Path, view: RgbView<'_>) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut packed = Vec::with_capacity((view.width() * view.height() * 3) as usize);
    for y in 0..view.height() {
        packed.extend_from_slice(&view.row(y)[..view.width() as usize * 3]);
    }
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(format!("{n:05}.png"));
    let _ = image::save_buffer(path, &packed, view.width(), view.height(), image::ExtendedColorType::Rgb8);
}

fn bilinear(img: RgbView<'_>, x: f32, y: f32) -> [u8; 3] {
    let (mx, my) = ((img.width() - 1) as f32, (img.height() - 1) as f32);
    let (x, y) = (x.clamp(0.0, mx), y.clamp(0.0, my));
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(img.width() - 1), (y0 + 1).min(img.height() - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let (a, b, c, d) = (img.pixel(x0, y0), img.pixel(x1, y0), img.pixel(x0, y1), img.pixel(x1, y1));
    std::array::from_fn(|i| {
        let top = a[i] as f32 + (b[i] as f32 - a[i] as f32) * fx;
        let bot = c[i] as f32 + (d[i] as f32 - c[i] as f32) * fx;
        (top + (bot - top) * fy).round() as u8
    })
}

/// The plate's background colour: each pixel of the inner 80 % votes for a colour class by
/// hue, saturation and value; characters are the minority.
pub fn color_of(crop: RgbView<'_>) -> PlateColor {
    let (w, h) = (crop.width(), crop.height());
    let mut votes = [0u32; 5]; // blue, yellow, green, white, black
    for y in h / 10..h - h / 10 {
        for x in w / 10..w - w / 10 {
            let [r, g, b] = crop.pixel(x, y).map(|v| v as f32 / 255.0);
            let max = r.max(g).max(b);
            let min = r.min(g).min(b);
            let (v, s) = (max, if max > 0.0 { (max - min) / max } else { 0.0 });
            let hue = if max == min {
                0.0
            } else if max == r {
                60.0 * ((g - b) / (max - min)).rem_euclid(6.0)
            } else if max == g {
                60.0 * ((b - r) / (max - min) + 2.0)
            } else {
                60.0 * ((r - g) / (max - min) + 4.0)
            };
            let class = if v < 0.25 {
                4
            } else if s < 0.22 {
                if v > 0.6 { 3 } else { continue }
            } else if (180.0..260.0).contains(&hue) {
                0
            } else if (25.0..70.0).contains(&hue) {
                1
            } else if (70.0..170.0).contains(&hue) {
                2
            } else {
                continue;
            };
            votes[class] += 1;
        }
    }
    let total: u32 = votes.iter().sum();
    // New-energy plates fade from white to green: enough green decides.
    if total > 0 && votes[2] * 4 >= total {
        return PlateColor::Green;
    }
    let best = votes.iter().enumerate().max_by_key(|(_, v)| **v).map_or(0, |(i, _)| i);
    [PlateColor::Blue, PlateColor::Yellow, PlateColor::Green, PlateColor::White, PlateColor::Black][best]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_prior_adds_variants_and_a_bonus_only_for_home_plates() {
        let home =
            HomePrior { provinces: vec!['冀', '京'], prefixes: vec!["冀G".into()], weight: HomePrior::WEIGHT };
        assert_eq!(home.variants("皖A12345"), vec!["冀A12345".to_owned(), "京A12345".to_owned()]);
        assert_eq!(home.variants("冀G12345"), vec!["京G12345".to_owned()]);
        // A variant that is no plate is not proposed (an embassy plate has no province).
        assert!(home.variants("使123456").iter().all(|v| PlateNumber::parse(v).is_ok()));
        assert_eq!(home.bonus("皖A12345"), 0.0);
        assert_eq!(home.bonus("京A12345"), HomePrior::WEIGHT);
        assert_eq!(home.bonus("冀G12345"), 1.5 * HomePrior::WEIGHT);
        assert!(HomePrior::default().variants("皖A12345").is_empty());
    }

    #[test]
    fn colours_come_from_the_background() {
        let plate = |bg: [u8; 3], fg: [u8; 3]| -> Vec<u8> {
            (0..40 * 12).flat_map(|i| if (i % 40) % 6 == 0 { fg } else { bg }).collect()
        };
        for (bg, fg, want) in [
            ([20, 60, 200], [240, 240, 240], PlateColor::Blue),
            ([230, 190, 20], [10, 10, 10], PlateColor::Yellow),
            ([60, 200, 90], [10, 10, 10], PlateColor::Green),
            ([235, 235, 235], [10, 10, 10], PlateColor::White),
            ([12, 12, 12], [240, 240, 240], PlateColor::Black),
        ] {
            let data = plate(bg, fg);
            assert_eq!(color_of(RgbView::packed(40, 12, &data).unwrap()), want, "{bg:?}");
        }
    }

    #[test]
    fn stacking_puts_the_top_row_left_of_the_bottom_row() {
        // Top half red, bottom half blue: the stacked image starts red and ends blue.
        let data: Vec<u8> = (0..100 * 60).flat_map(|i| if i / 100 < 20 { [255, 0, 0] } else { [0, 0, 255] }).collect();
        let mut out = Vec::new();
        stack_rows(RgbView::packed(100, 60, &data).unwrap(), &mut out);
        let w = out.len() / 3 / 48;
        assert!(w > 100, "{w}");
        assert_eq!(&out[24 * w * 3..24 * w * 3 + 3], &[255, 0, 0]);
        let last = (24 * w + w - 1) * 3;
        assert_eq!(&out[last..last + 3], &[0, 0, 255]);
        assert!(
            (quad_aspect(&[
                Point { x: 0.0, y: 0.0 },
                Point { x: 30.0, y: 0.0 },
                Point { x: 30.0, y: 10.0 },
                Point { x: 0.0, y: 10.0 }
            ]) - 3.0)
                .abs()
                < 1e-6
        );
    }
}
