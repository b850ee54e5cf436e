//! Face quality: is this shot good enough to recognise, or to enrol?
//!
//! Five cues, each cheap: the distance between the eyes in frame pixels (resolution), the
//! sharpness of the aligned face (variance of the Laplacian on its grey levels), its brightness
//! (mean grey level), the head pose estimated from the five landmarks, and the detector's
//! score. Later stages rank a track's shots by
//! [`FaceQuality::overall`]; enrolment refuses shots that fail [`QualityPolicy::ENROL`] and the
//! gate does not decide on shots that fail its policy (`[matching]` in the edge config, by
//! default [`QualityPolicy::GATE`]), so that a face too small or too dark to read is refused
//! with its reason instead of being matched to the nearest resident.

use menwei_core::geom::Point;
use serde::Serialize;

use crate::face::FaceDetection;

/// Quality cues of one face.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FaceQuality {
    /// Pixels between the eye centres in the frame.
    pub eye_distance_px: f32,
    /// Variance of the 4-neighbour Laplacian of the aligned 112x112 grey face. Sharp portraits
    /// give several hundred; a face blurred by motion or focus gives tens.
    pub sharpness: f32,
    /// Mean grey level (0-255) of the aligned face's inner part: a face lit by day reads 90 to
    /// 170, an unlit face at night or against the light 20 to 60.
    pub brightness: f32,
    /// Head turned left or right, degrees (0 = facing the camera), from the nose's offset from
    /// the eyes' midline.
    pub yaw_deg: f32,
    /// Head tilted up or down, degrees (0 = level), from the nose's height between the eyes
    /// and the mouth.
    pub pitch_deg: f32,
    /// In-plane rotation, degrees, from the line through the eyes.
    pub roll_deg: f32,
    pub detector_score: f32,
    /// 0 to 1: the product of a resolution, a sharpness, a pose and a detector term, for
    /// ranking shots.
    pub overall: f32,
}

impl FaceQuality {
    /// Computes the cues; `grey` comes from [`grey_cues`] on the aligned face.
    pub fn new(face: &FaceDetection, grey: GreyCues) -> Self {
        let GreyCues { sharpness, brightness } = grey;
        let [le, re, nose, lm, rm] = face.landmarks;
        let mid = |a: Point, b: Point| Point { x: (a.x + b.x) / 2.0, y: (a.y + b.y) / 2.0 };
        let eyes = mid(le, re);
        let mouth = mid(lm, rm);
        let eye_distance_px = (re.x - le.x).hypot(re.y - le.y);
        let roll = (re.y - le.y).atan2(re.x - le.x);
        // Rotate the nose into the eyes' frame so roll does not read as yaw or pitch.
        let (c, s) = (roll.cos(), roll.sin());
        let (dx, dy) = (nose.x - eyes.x, nose.y - eyes.y);
        let along = dx * c + dy * s;
        let across = -dx * s + dy * c;
        let face_h = {
            let (mx, my) = (mouth.x - eyes.x, mouth.y - eyes.y);
            (-mx * s + my * c).max(1.0)
        };
        // A frontal nose sits on the midline, about 0.5 of the way from the eyes to the mouth
        // (ArcFace template: 20.1 of 40.7 px).
        let yaw_deg = (2.0 * along / eye_distance_px.max(1.0)).clamp(-1.0, 1.0).asin().to_degrees();
        let pitch_deg = ((across / face_h - 0.495) * 2.0).clamp(-1.0, 1.0).asin().to_degrees();
        let resolution = ((eye_distance_px - 12.0) / (48.0 - 12.0)).clamp(0.0, 1.0);
        let sharp = (sharpness / 150.0).clamp(0.0, 1.0);
        let pose = yaw_deg.to_radians().cos().max(0.0) * pitch_deg.to_radians().cos().max(0.0);
        let overall = resolution * (0.3 + 0.7 * sharp) * pose * pose * face.score.clamp(0.0, 1.0);
        FaceQuality {
            eye_distance_px,
            sharpness,
            brightness,
            yaw_deg,
            pitch_deg,
            roll_deg: roll.to_degrees(),
            detector_score: face.score,
            overall,
        }
    }
}

/// What the aligned face's grey levels say about the shot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GreyCues {
    pub sharpness: f32,
    pub brightness: f32,
}

impl GreyCues {
    /// A clean, evenly lit face with the given sharpness (for tests of the other cues).
    pub fn clean(sharpness: f32) -> Self {
        GreyCues { sharpness, brightness: 128.0 }
    }
}

/// Sharpness ([`laplacian_variance`]) and brightness (mean) of a `size` x `size` grey image
/// (levels 0-255), over its inner part (the border, where the warp may have sampled outside
/// the frame, is left out).
pub fn grey_cues(grey: &[f32], size: usize) -> GreyCues {
    let m = (size / 8).max(1);
    let (mut sum, mut n) = (0.0f64, 0.0f64);
    for y in m..size - m {
        for x in m..size - m {
            sum += f64::from(grey[y * size + x]);
            n += 1.0;
        }
    }
    GreyCues { sharpness: laplacian_variance(grey, size), brightness: if n == 0.0 { 0.0 } else { (sum / n) as f32 } }
}

/// Variance of the 4-neighbour Laplacian over the inner part of a `size` x `size` grey image
/// (the border, where the warp may have sampled outside the frame, is left out).
pub fn laplacian_variance(grey: &[f32], size: usize) -> f32 {
    let m = size / 8;
    let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in m.max(1)..size - m.max(1) {
        for x in m.max(1)..size - m.max(1) {
            let i = y * size + x;
            let l = f64::from(grey[i - 1] + grey[i + 1] + grey[i - size] + grey[i + size] - 4.0 * grey[i]);
            sum += l;
            sq += l * l;
            n += 1.0;
        }
    }
    if n == 0.0 { 0.0 } else { ((sq / n) - (sum / n).powi(2)) as f32 }
}

/// Why a shot is refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum QualityIssue {
    #[error("the face is too small: {got:.0} px between the eyes, at least {min:.0} needed")]
    TooSmall { got: f32, min: f32 },
    #[error("the face is blurred: sharpness {got:.0}, at least {min:.0} needed")]
    Blurred { got: f32, min: f32 },
    #[error("the head is turned too far: yaw {yaw:.0} deg, pitch {pitch:.0} deg (limit {max:.0})")]
    Turned { yaw: f32, pitch: f32, max: f32 },
    #[error("the detector is unsure it is a face: score {got:.2}, at least {min:.2} needed")]
    Unsure { got: f32, min: f32 },
    #[error("the face is too dark: brightness {got:.0}, at least {min:.0} needed")]
    TooDark { got: f32, min: f32 },
    #[error("the shot is too poor overall: quality {got:.3}, at least {min:.3} needed")]
    Poor { got: f32, min: f32 },
}

impl QualityIssue {
    /// A short, stable name for counters and reports: `too small`, `blurred`, `turned`,
    /// `unsure`, `too dark`, `poor`.
    pub fn reason(&self) -> &'static str {
        match self {
            QualityIssue::TooSmall { .. } => "too small",
            QualityIssue::Blurred { .. } => "blurred",
            QualityIssue::Turned { .. } => "turned",
            QualityIssue::Unsure { .. } => "unsure",
            QualityIssue::TooDark { .. } => "too dark",
            QualityIssue::Poor { .. } => "poor",
        }
    }
}

/// Minimums for a shot to be accepted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityPolicy {
    pub min_eye_distance_px: f32,
    pub min_sharpness: f32,
    pub max_pose_deg: f32,
    pub min_detector_score: f32,
    /// Mean grey level of the aligned face, 0-255.
    pub min_brightness: f32,
    /// [`FaceQuality::overall`].
    pub min_overall: f32,
}

impl QualityPolicy {
    /// For enrolment photos: a clear, frontal, reasonably large face.
    pub const ENROL: QualityPolicy = QualityPolicy {
        min_eye_distance_px: 40.0,
        min_sharpness: 40.0,
        max_pose_deg: 25.0,
        min_detector_score: 0.6,
        min_brightness: 0.0,
        min_overall: 0.0,
    };

    /// What the gate decides on by default (`[matching]` overrides each). The overall floor
    /// (0.05) is where the resolution term alone, `(eye distance - 12) / 36`, leaves a face at
    /// about 18 px between the eyes no weight worth a decision; the eye-distance floor is set
    /// at that size so such a face is refused as `too small`, the reason a guard can act on.
    /// The detector's own floor is the camera's `face_score_threshold`, so it is 0 here; the
    /// brightness and sharpness floors are off, because `eval faces` found dark and blurred
    /// faces undecided rather than wrongly matched (docs/design/vision.md).
    pub const GATE: QualityPolicy = QualityPolicy {
        min_eye_distance_px: 18.0,
        min_sharpness: 0.0,
        max_pose_deg: 60.0,
        min_detector_score: 0.0,
        min_brightness: 0.0,
        min_overall: 0.05,
    };

    pub fn check(&self, q: &FaceQuality) -> Result<(), QualityIssue> {
        if q.eye_distance_px < self.min_eye_distance_px {
            return Err(QualityIssue::TooSmall { got: q.eye_distance_px, min: self.min_eye_distance_px });
        }
        if q.detector_score < self.min_detector_score {
            return Err(QualityIssue::Unsure { got: q.detector_score, min: self.min_detector_score });
        }
        if q.yaw_deg.abs() > self.max_pose_deg || q.pitch_deg.abs() > self.max_pose_deg {
            return Err(QualityIssue::Turned { yaw: q.yaw_deg, pitch: q.pitch_deg, max: self.max_pose_deg });
        }
        if q.brightness < self.min_brightness {
            return Err(QualityIssue::TooDark { got: q.brightness, min: self.min_brightness });
        }
        if q.sharpness < self.min_sharpness {
            return Err(QualityIssue::Blurred { got: q.sharpness, min: self.min_sharpness });
        }
        if q.overall < self.min_overall {
            return Err(QualityIssue::Poor { got: q.overall, min: self.min_overall });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::ARCFACE_112;
    use menwei_core::geom::BoxXyxy;

    fn face(landmarks: [Point; 5]) -> FaceDetection {
        FaceDetection { bbox: BoxXyxy { x1: 0.0, y1: 0.0, x2: 112.0, y2: 112.0 }, score: 0.9, landmarks }
    }

    #[test]
    fn the_template_is_frontal_and_a_turned_head_is_not() {
        let q = FaceQuality::new(&face(ARCFACE_112), GreyCues::clean(200.0));
        assert!(q.yaw_deg.abs() < 3.0 && q.pitch_deg.abs() < 3.0 && q.roll_deg.abs() < 1.0, "{q:?}");
        assert!((q.eye_distance_px - 35.2).abs() < 0.1);
        // The nose moved 12 px towards one eye: a head turned by about 40 degrees.
        let mut turned = ARCFACE_112;
        turned[2].x += 12.0;
        let t = FaceQuality::new(&face(turned), GreyCues::clean(200.0));
        assert!(t.yaw_deg > 30.0, "{t:?}");
        assert!(t.overall < q.overall);
        let policy = QualityPolicy { min_eye_distance_px: 30.0, ..QualityPolicy::ENROL };
        assert_eq!(policy.check(&q), Ok(()));
        assert!(matches!(policy.check(&t), Err(QualityIssue::Turned { .. })));
        assert!(matches!(QualityPolicy::ENROL.check(&q), Err(QualityIssue::TooSmall { .. })));
    }

    #[test]
    fn sharp_edges_have_more_laplacian_variance_than_flat_grey() {
        let flat = vec![0.5f32; 112 * 112];
        let checker: Vec<f32> =
            (0..112 * 112).map(|i| if (i % 112 / 4 + i / 112 / 4) % 2 == 0 { 0.0 } else { 255.0 }).collect();
        assert_eq!(laplacian_variance(&flat, 112), 0.0);
        assert!(laplacian_variance(&checker, 112) > 1000.0);
    }

    #[test]
    fn brightness_is_the_mean_of_the_inner_part() {
        let mut g = vec![200.0f32; 112 * 112];
        // A dark inner square, the border left bright (as a warp past the frame's edge leaves it).
        for y in 14..98 {
            for x in 14..98 {
                g[y * 112 + x] = 30.0;
            }
        }
        assert!((grey_cues(&g, 112).brightness - 30.0).abs() < 1e-3);
    }

    #[test]
    fn the_gate_policy_names_each_reason() {
        let q = FaceQuality::new(&face(ARCFACE_112), GreyCues { sharpness: 200.0, brightness: 20.0 });
        let dark = QualityPolicy { min_brightness: 40.0, ..QualityPolicy::GATE };
        assert_eq!(dark.check(&q).unwrap_err().reason(), "too dark");
        assert_eq!(QualityPolicy::GATE.check(&q), Ok(()));
        let blurred = FaceQuality::new(&face(ARCFACE_112), GreyCues::clean(5.0));
        let sharp = QualityPolicy { min_sharpness: 40.0, ..QualityPolicy::GATE };
        assert_eq!(sharp.check(&blurred).unwrap_err().reason(), "blurred");
    }
}
