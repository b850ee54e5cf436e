//! `[matching]`: how recognitions become access decisions (face threshold, margin and the
//! gate's quality policy; plate matching and the home-province prior; passages and strangers).

use menwei_core::config::Issues;

use super::raw;

/// How recognitions become decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct Matching {
    /// Cosine a face needs against a resident's templates...
    pub face_threshold: f32,
    /// ...and its lead over the next resident.
    pub face_margin: f32,
    /// Shots the gate decides on; a shot that fails is refused with its reason (counted in
    /// `menwei_recognition_faces_refused_total`) and decides nothing.
    pub face_quality: menwei_vision::quality::QualityPolicy,
    /// Largest confusion-aware distance for a fuzzy plate match (0 = exact only).
    pub plate_max_distance: f32,
    /// The deployment's prior on plates' first characters (empty: none).
    pub plate_home: menwei_vision::lpr::HomePrior,
    /// One event per subject per gate within this many milliseconds.
    pub retrigger_ms: i64,
    /// An unknown face seen this many times within `stranger_window_ms` is a repeat stranger.
    pub stranger_repeat: usize,
    pub stranger_window_ms: i64,
    /// Cosine at which an unknown face joins an earlier stranger's cluster: the embedder's
    /// own ([`menwei_vision::embed::EmbedderKind::default_stranger_join`]), not configurable.
    pub stranger_join: f32,
}

impl Default for Matching {
    fn default() -> Self {
        Matching::for_embedder(menwei_vision::embed::EmbedderKind::W600kMbf)
    }
}

impl Matching {
    /// The defaults, with the face threshold and margin of `embedder` (each embedder spreads
    /// its cosines differently: docs/design/vision.md).
    pub fn for_embedder(embedder: menwei_vision::embed::EmbedderKind) -> Self {
        Self {
            face_threshold: embedder.default_threshold(),
            face_margin: embedder.default_margin(),
            face_quality: menwei_vision::quality::QualityPolicy::GATE,
            plate_max_distance: 1.0,
            plate_home: menwei_vision::lpr::HomePrior::default(),
            retrigger_ms: 30_000,
            stranger_repeat: 3,
            stranger_window_ms: 24 * 3_600_000,
            stranger_join: embedder.default_stranger_join(),
        }
    }
}

/// `plate_home_provinces`, `plate_home_prefixes` and `plate_home_weight`.
fn plate_home(m: &raw::Matching, issues: &mut Issues, home: &mut menwei_vision::lpr::HomePrior) {
    use menwei_core::plate::PROVINCES;
    for (i, p) in m.plate_home_provinces.iter().flatten().enumerate() {
        let mut chars = p.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if PROVINCES.contains(c) => home.provinces.push(c),
            _ => issues.add(
                format!("matching.plate_home_provinces[{i}]"),
                format!("`{p}` is not one province character ({PROVINCES})"),
            ),
        }
    }
    for (i, p) in m.plate_home_prefixes.iter().flatten().enumerate() {
        let chars: Vec<char> = p.chars().collect();
        match chars[..] {
            [c, l] if home.provinces.contains(&c) && l.is_ascii_uppercase() => home.prefixes.push(p.clone()),
            [c, l] if PROVINCES.contains(c) && l.is_ascii_uppercase() => issues.add(
                format!("matching.plate_home_prefixes[{i}]"),
                format!("`{p}`: its province {c} is not in plate_home_provinces"),
            ),
            _ => issues.add(
                format!("matching.plate_home_prefixes[{i}]"),
                format!("`{p}` is not a province character and an office letter, such as 冀G"),
            ),
        }
    }
    home.weight = menwei_vision::lpr::HomePrior::WEIGHT;
    if let Some(w) = m.plate_home_weight
        && issues.range("matching.plate_home_weight", w, 0.0..=5.0)
    {
        home.weight = w as f32;
    }
}

/// The `[matching]` table.
pub(super) fn validate(
    m: &raw::Matching,
    embedder: menwei_vision::embed::EmbedderKind,
    issues: &mut Issues,
) -> Matching {
    let mut matching = Matching::for_embedder(embedder);
    let mut unit = |key: &str, v: Option<f64>, range: std::ops::RangeInclusive<f64>, dst: &mut f32| {
        if let Some(v) = v
            && issues.range(key, v, range)
        {
            *dst = v as f32;
        }
    };
    unit("matching.face_threshold", m.face_threshold, 0.0..=1.0, &mut matching.face_threshold);
    unit("matching.face_margin", m.face_margin, 0.0..=1.0, &mut matching.face_margin);
    let q = &mut matching.face_quality;
    unit("matching.face_min_eye_distance_px", m.face_min_eye_distance_px, 0.0..=500.0, &mut q.min_eye_distance_px);
    unit("matching.face_min_detector_score", m.face_min_detector_score, 0.0..=1.0, &mut q.min_detector_score);
    unit("matching.face_max_pose_deg", m.face_max_pose_deg, 0.0..=90.0, &mut q.max_pose_deg);
    unit("matching.face_min_sharpness", m.face_min_sharpness, 0.0..=10_000.0, &mut q.min_sharpness);
    unit("matching.face_min_brightness", m.face_min_brightness, 0.0..=255.0, &mut q.min_brightness);
    unit("matching.plate_max_distance", m.plate_max_distance, 0.0..=3.0, &mut matching.plate_max_distance);
    if let Some(r) = m.retrigger_secs
        && issues.range("matching.retrigger_secs", r, 0.0..=3600.0)
    {
        matching.retrigger_ms = (r * 1000.0) as i64;
    }
    if let Some(n) = m.stranger_repeat
        && issues.range("matching.stranger_repeat", n, 2..=100)
    {
        matching.stranger_repeat = n as usize;
    }
    plate_home(m, issues, &mut matching.plate_home);
    if let Some(h) = m.stranger_window_hours {
        if h > 0.0 && h <= 168.0 {
            matching.stranger_window_ms = (h * 3_600_000.0) as i64;
        } else {
            issues.add("matching.stranger_window_hours", format!("{h} is not in (0, 168]"));
        }
    }
    matching
}
