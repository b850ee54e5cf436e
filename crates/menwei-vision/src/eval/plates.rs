//! Plate accuracy on a labelled set (the manifest format of `../shared/data/plates`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Instant;

use menwei_core::geom::{BoxXyxy, Point};
use menwei_core::image::RgbView;
use menwei_core::plate::PlateLayout;
use serde::Serialize;

use super::{EvalError, load, parse_csv, pct};
use crate::lpr::{Lpr, PlateOutcome, quad_aspect};

/// One labelled plate.
#[derive(Clone, Debug)]
pub struct LabelledPlate {
    pub path: String,
    pub text: String,
    /// `crop` or `scene`.
    pub kind: String,
    pub color: String,
    pub bbox: Option<BoxXyxy>,
    pub corners: Option<[Point; 4]>,
    pub note: String,
}

impl LabelledPlate {
    /// Double-row by the label: a note says so, or the labelled outline is narrow (at most 2.3
    /// wide per unit of height) on a yellow plate.
    pub fn double_row(&self) -> bool {
        self.note.contains("double-row")
            || self.path.contains("double")
            || (self.color == "yellow" && self.corners.is_some_and(|c| quad_aspect(&c) <= 2.3))
    }
}

/// Reads a plate manifest: `path`, `plate_text`, `kind`, `color_if_known`, `bbox_xyxy`
/// (`"x1 y1 x2 y2"`), `corners_tl_tr_br_bl` (`"x&y;x&y;x&y;x&y"`), `note`.
pub fn read_plate_manifest(path: &Path) -> Result<Vec<LabelledPlate>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read { path: path.into(), source })?;
    let bad = |reason: String| EvalError::Manifest { path: path.into(), reason };
    let mut records = parse_csv(&text).into_iter();
    let header = records.next().ok_or_else(|| bad("empty".into()))?;
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| bad(format!("no column `{name}`")));
    let (p, t, k) = (col("path")?, col("plate_text")?, col("kind")?);
    let opt = |name: &str| header.iter().position(|h| h == name);
    let (c, b, q, n) = (opt("color_if_known"), opt("bbox_xyxy"), opt("corners_tl_tr_br_bl"), opt("note"));
    let mut out = Vec::new();
    for (i, r) in records.enumerate() {
        if r.len() == 1 && r[0].is_empty() {
            continue;
        }
        if r.len() != header.len() {
            return Err(bad(format!("row {}: {} fields, the header has {}", i + 2, r.len(), header.len())));
        }
        let get = |c: Option<usize>| c.map(|c| r[c].clone()).unwrap_or_default();
        let bbox = match get(b) {
            s if s.is_empty() => None,
            s => {
                let v: Vec<f32> = s.split_whitespace().filter_map(|v| v.parse().ok()).collect();
                if v.len() != 4 {
                    return Err(bad(format!("row {}: bbox_xyxy `{s}` is not four numbers", i + 2)));
                }
                Some(BoxXyxy { x1: v[0], y1: v[1], x2: v[2], y2: v[3] })
            }
        };
        let corners = match get(q) {
            s if s.is_empty() => None,
            s => {
                let pts: Vec<Point> = s
                    .split(';')
                    .filter_map(|p| {
                        let (x, y) = p.split_once('&')?;
                        Some(Point { x: x.trim().parse().ok()?, y: y.trim().parse().ok()? })
                    })
                    .collect();
                let arr: [Point; 4] =
                    pts.try_into().map_err(|_| bad(format!("row {}: corners `{s}` are not four x&y", i + 2)))?;
                Some(arr)
            }
        };
        out.push(LabelledPlate {
            path: r[p].clone(),
            text: r[t].clone(),
            kind: r[k].clone(),
            color: get(c),
            bbox,
            corners,
            note: get(n),
        });
    }
    Ok(out)
}

/// Exact match; a truth starting with `?` (illegible province) compares the rest only.
pub fn matches(truth: &str, read: &str) -> bool {
    match truth.strip_prefix('?') {
        Some(rest) => read.chars().skip(1).eq(rest.chars()),
        None => truth == read,
    }
}

/// Counts for one subset.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    pub plates: usize,
    /// Scenes with a labelled box: detections at IoU >= 0.5.
    pub found: usize,
    pub exact: usize,
}

impl Tally {
    pub fn recall(&self) -> f64 {
        pct(self.found, self.plates)
    }
    pub fn accuracy(&self) -> f64 {
        pct(self.exact, self.plates)
    }
}

/// What `eval plates` prints.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PlateReport {
    /// Subset name -> counts. Names: `<folder> crops`, `<folder> end to end`, `<folder> >= 80 px`,
    /// `<folder> any detection` (scenes without boxes), `colour <c>`, `double-row`.
    pub subsets: BTreeMap<String, Tally>,
    /// (truth, read) -> count, over same-length misreads.
    pub confusions: Vec<(String, usize)>,
    /// Plates whose colour was labelled, and how many the estimate got right.
    pub colour_labelled: usize,
    pub colour_right: usize,
    pub images: usize,
    pub median_ms_per_image: f64,
    /// Every plate not read exactly: "truth -> read (why)".
    pub misses: Vec<String>,
    /// Per province character of the truth (the first character; `?` truths left out): how
    /// many plates, how many read with that first character, and what it was read as
    /// otherwise (`-` for a plate not read at all).
    pub provinces: BTreeMap<String, ProvinceTally>,
    /// Per plate kind of the truth (`ordinary`, `new-energy`, `learner (学)`, ..., `province
    /// illegible`, or `outside the grammar` for a truth the plate grammar cannot parse).
    pub kinds: BTreeMap<String, Tally>,
}

/// One row of the province-character table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProvinceTally {
    pub plates: usize,
    pub first_right: usize,
    pub read_as: BTreeMap<String, usize>,
}

/// The name of a plate's kind in reports (a truth with an illegible `?` province is `province
/// illegible`).
pub fn kind_name(truth: &str) -> &'static str {
    use menwei_core::plate::{PlateKind, PlateNumber};
    if truth.starts_with('?') {
        return "province illegible";
    }
    match PlateNumber::parse(truth).map(|p| p.kind()) {
        Ok(PlateKind::Ordinary) => "ordinary",
        Ok(PlateKind::NewEnergy) => "new-energy",
        Ok(PlateKind::Learner) => "learner (学)",
        Ok(PlateKind::Police) => "police (警)",
        Ok(PlateKind::Trailer) => "trailer (挂)",
        Ok(PlateKind::HongKong) => "Hong Kong (港)",
        Ok(PlateKind::Macau) => "Macau (澳)",
        Ok(PlateKind::Consulate) => "consulate (领)",
        Ok(PlateKind::Embassy) => "embassy (使)",
        Ok(PlateKind::ArmedPolice) => "armed police (WJ)",
        Ok(PlateKind::CivilAviation) => "civil aviation (民航)",
        Ok(PlateKind::Emergency) => "emergency (应急)",
        Ok(PlateKind::Military) => "military",
        Err(_) => "outside the grammar",
    }
}

impl PlateReport {
    pub fn subset(&self, name: &str) -> Tally {
        self.subsets.get(name).cloned().unwrap_or_default()
    }

    /// Counts one plate (labelled `truth`, read as `read`, empty when not read) in its kind's
    /// row and its province's row.
    fn count_kind_and_province(&mut self, truth: &str, read: &str, found: bool, exact: bool) {
        let k = self.kinds.entry(kind_name(truth).to_owned()).or_default();
        k.plates += 1;
        k.found += usize::from(found);
        k.exact += usize::from(exact);
        if let Some(first) = truth.chars().next().filter(|c| *c != '?') {
            let t = self.provinces.entry(first.to_string()).or_default();
            t.plates += 1;
            match read.chars().next() {
                Some(c) if c == first => t.first_right += 1,
                Some(c) => *t.read_as.entry(c.to_string()).or_default() += 1,
                None => *t.read_as.entry("-".into()).or_default() += 1,
            }
        }
    }
}

impl fmt::Display for PlateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<36} {:>7} {:>16} {:>16}", "subset", "plates", "detector recall", "exact")?;
        for (name, t) in &self.subsets {
            let recall = if name.ends_with("end to end") || name.contains(">=") {
                format!("{} ({:.1} %)", t.found, t.recall())
            } else {
                "-".into()
            };
            writeln!(
                f,
                "{name:<36} {:>7} {recall:>16} {:>16}",
                t.plates,
                format!("{} ({:.1} %)", t.exact, t.accuracy())
            )?;
        }
        writeln!(
            f,
            "colour estimate: {} of {} labelled plates ({:.1} %)",
            self.colour_right,
            self.colour_labelled,
            pct(self.colour_right, self.colour_labelled)
        )?;
        writeln!(f, "images: {}, median {:.1} ms per image (detect and read)", self.images, self.median_ms_per_image)?;
        let top: Vec<String> = self.confusions.iter().take(12).map(|(p, n)| format!("{p} x{n}")).collect();
        writeln!(f, "most common confusions (truth->read): {}", top.join(", "))?;
        writeln!(f, "{:<24} {:>7} {:>16}", "kind", "plates", "exact")?;
        for (name, t) in &self.kinds {
            writeln!(f, "{name:<24} {:>7} {:>16}", t.plates, format!("{} ({:.1} %)", t.exact, t.accuracy()))?;
        }
        writeln!(f, "{:<8} {:>7} {:>18}  read as", "province", "plates", "first char right")?;
        for (p, t) in &self.provinces {
            let mut wrong: Vec<(&String, &usize)> = t.read_as.iter().collect();
            wrong.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let wrong: Vec<String> = wrong.iter().map(|(c, n)| format!("{c} x{n}")).collect();
            writeln!(
                f,
                "{p:<8} {:>7} {:>18}  {}",
                t.plates,
                format!("{} ({:.1} %)", t.first_right, pct(t.first_right, t.plates)),
                wrong.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Runs `lpr` over every labelled plate of `manifest` (paths relative to its folder), or those
/// whose path contains `only`.
/// `progress(done, total)` is called after each image.
pub fn eval_plates(
    manifest: &Path,
    lpr: &mut Lpr,
    min_wide_px: f32,
    only: Option<&str>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<PlateReport, EvalError> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let mut rows = read_plate_manifest(manifest)?;
    if let Some(only) = only {
        rows.retain(|r| r.path.contains(only));
    }
    let mut by_image: BTreeMap<&str, Vec<&LabelledPlate>> = BTreeMap::new();
    for r in &rows {
        by_image.entry(r.path.as_str()).or_default().push(r);
    }
    let mut report = PlateReport::default();
    let mut confusions: BTreeMap<String, usize> = BTreeMap::new();
    let mut ms = Vec::new();
    let total = by_image.len();
    for (done, (path, plates)) in by_image.into_iter().enumerate() {
        let folder = path.split('/').next().unwrap_or("").to_owned();
        let img = load(&dir.join(path))?;
        let frame = RgbView::packed(img.width(), img.height(), img.as_raw()).expect("decoded image");
        let t = Instant::now();
        // Crops are read as they are; scenes go through the detector.
        let results = if plates.iter().all(|p| p.kind == "crop") { None } else { Some(lpr.recognise(frame)?) };
        for plate in plates {
            let (found, read, why) = match (&results, plate.kind.as_str()) {
                (None, _) | (_, "crop") => {
                    let outcome = lpr.read_crop(frame)?;
                    (true, outcome, String::new())
                }
                (Some(results), _) => match plate.bbox {
                    Some(gt) => {
                        let best =
                            results.iter().map(|r| (gt.iou(&r.detection.bbox), r)).max_by(|a, b| a.0.total_cmp(&b.0));
                        match best {
                            Some((iou, r)) if iou >= 0.5 => (true, r.outcome.clone(), String::new()),
                            Some((iou, _)) => (false, rejected(), format!("missed, best IoU {iou:.2}")),
                            None => (false, rejected(), "missed, no detection".into()),
                        }
                    }
                    // No labelled box: any detection that reads the plate counts.
                    None => {
                        let hit = results
                            .iter()
                            .find(|r| r.outcome.reading().is_some_and(|x| matches(&plate.text, x.plate.as_str())));
                        match hit.or(results.first()) {
                            Some(r) => (true, r.outcome.clone(), String::new()),
                            None => (false, rejected(), "no detection".into()),
                        }
                    }
                },
            };
            let text = read.reading().map(|r| r.plate.to_string()).unwrap_or_default();
            let exact = matches(&plate.text, &text);
            report.count_kind_and_province(&plate.text, &text, found, exact);
            let mut subsets = vec![];
            match (plate.kind.as_str(), plate.bbox) {
                ("crop", _) => subsets.push(format!("{folder} crops")),
                (_, Some(gt)) => {
                    subsets.push(format!("{folder} end to end"));
                    if gt.width() + 1.0 >= min_wide_px {
                        subsets.push(format!("{folder} >= {min_wide_px:.0} px"));
                    }
                }
                (_, None) => subsets.push(format!("{folder} any detection")),
            }
            if !plate.color.is_empty() {
                subsets.push(format!("colour {}", plate.color));
            }
            if plate.double_row() {
                subsets.push("double-row".into());
            }
            for s in subsets {
                let t = report.subsets.entry(s).or_default();
                t.plates += 1;
                t.found += usize::from(found);
                t.exact += usize::from(exact);
            }
            if let Some(r) = read.reading()
                && !plate.color.is_empty()
            {
                report.colour_labelled += 1;
                report.colour_right += usize::from(format!("{:?}", r.color).eq_ignore_ascii_case(&plate.color));
            }
            if !exact {
                let what = match &read {
                    PlateOutcome::Read(r) => format!(
                        "{} ({:.2}{})",
                        r.plate,
                        r.confidence,
                        if r.layout == PlateLayout::DoubleRow { ", double-row" } else { "" }
                    ),
                    PlateOutcome::Rejected { raw, reason } if why.is_empty() => format!("rejected `{raw}`: {reason}"),
                    PlateOutcome::Rejected { .. } => why.clone(),
                };
                report.misses.push(format!("{path}: {} -> {what}", plate.text));
                let truth: Vec<char> = plate.text.chars().collect();
                let got: Vec<char> = text.chars().collect();
                if truth.len() == got.len() {
                    for (a, b) in truth.iter().zip(&got).filter(|(a, b)| a != b && **a != '?') {
                        *confusions.entry(format!("{a}->{b}")).or_default() += 1;
                    }
                }
            }
        }
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        progress(done + 1, total);
    }
    ms.sort_by(f64::total_cmp);
    report.images = ms.len();
    report.median_ms_per_image = ms.get(ms.len() / 2).copied().unwrap_or(0.0);
    let mut c: Vec<(String, usize)> = confusions.into_iter().collect();
    c.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    report.confusions = c;
    Ok(report)
}

fn rejected() -> PlateOutcome {
    PlateOutcome::Rejected { raw: String::new(), reason: "not detected".into() }
}

/// One reader's lean: its name, `ln(31 p)` per province, and the crops it was measured on.
pub type ReaderPrior = (&'static str, crate::lpr::ProvinceTable, usize);

/// Each reader's lean on the province character: over the crops of `manifest` (or those whose
/// path contains `only`), the left 15 % of the crop (where the province character is) is
/// painted with the plate's background and each reader's province mass
/// ([`Lpr::province_mass`]) is averaged. What a reader says there without evidence is the
/// prior it learnt. Returned per reader as `ln(31 p)` per province (0 for a reader without a
/// lean), with `p` smoothed by 1e-3.
pub fn reader_prior(
    manifest: &Path,
    lpr: &mut Lpr,
    only: Option<&str>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<ReaderPrior>, EvalError> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let mut rows = read_plate_manifest(manifest)?;
    rows.retain(|r| r.kind == "crop" && only.is_none_or(|o| r.path.contains(o)));
    let mut sums: Vec<(&'static str, crate::lpr::ProvinceTable)> = Vec::new();
    let total = rows.len();
    for (done, r) in rows.iter().enumerate() {
        let mut img = load(&dir.join(&r.path))?;
        let bg = *img.get_pixel(img.width() / 2, img.height().min(2) - 1);
        for y in 0..img.height() {
            for x in 0..img.width() * 15 / 100 {
                img.put_pixel(x, y, bg);
            }
        }
        let view = RgbView::packed(img.width(), img.height(), img.as_raw()).expect("decoded image");
        for (i, (name, mass)) in lpr.province_mass(view)?.into_iter().enumerate() {
            if sums.len() <= i {
                sums.push((name, mass.iter().map(|(c, _)| (*c, 0.0)).collect()));
            }
            for (s, (_, m)) in sums[i].1.iter_mut().zip(mass) {
                s.1 += m;
            }
        }
        progress(done + 1, total);
    }
    let n = total.max(1) as f32;
    let provinces = menwei_core::plate::PROVINCES.chars().count() as f32;
    Ok(sums
        .into_iter()
        .map(|(name, mass)| {
            let smoothed: Vec<f32> = mass.iter().map(|(_, m)| m / n + 1e-3).collect();
            let z: f32 = smoothed.iter().sum();
            let bias = mass.iter().zip(smoothed).map(|((c, _), p)| (*c, (provinces * p / z).ln())).collect();
            (name, bias, total)
        })
        .collect())
}
