//! Face quality: is this shot good enough to recognise, or to enrol?
//!
//! Four cues, each cheap: the distance between the eyes in frame pixels (resolution), the
//! sharpness of the aligned face (variance of the Laplacian on its grey levels), the head pose
//! estimated from the five landmarks, and the detector's score. Later stages rank a track's
//! shots by [`FaceQuality::overall`] and enrolment refuses shots that fail a [`QualityPolicy`].

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
    /// Computes the cues; `sharpness` comes from [`laplacian_variance`] on the aligned face.
    pub fn new(face: &FaceDetection, sharpness: f32) -> Self {
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
            yaw_deg,
            pitch_deg,
            roll_deg: roll.to_degrees(),
            detector_score: face.score,
            overall,
        }
    }
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
}

/// Minimums for a shot to be accepted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityPolicy {
    pub min_eye_distance_px: f32,
    pub min_sharpness: f32,
    pub max_pose_deg: f32,
    pub min_detector_score: f32,
}

impl QualityPolicy {
    /// For enrolment photos: a clear, frontal, reasonably large face.
    pub const ENROL: QualityPolicy =
        QualityPolicy { min_eye_distance_px: 40.0, min_sharpness: 40.0, max_pose_deg: 25.0, min_detector_score: 0.6 };

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
        if q.sharpness < self.min_sharpness {
            return Err(QualityIssue::Blurred { got: q.sharpness, min: self.min_sharpness });
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
        let q = FaceQuality::new(&face(ARCFACE_112), 200.0);
        assert!(q.yaw_deg.abs() < 3.0 && q.pitch_deg.abs() < 3.0 && q.roll_deg.abs() < 1.0, "{q:?}");
        assert!((q.eye_distance_px - 35.2).abs() < 0.1);
        // The nose moved 12 px towards one eye: a head turned by about 40 degrees.
        let mut turned = ARCFACE_112;
        turned[2].x += 12.0;
        let t = FaceQuality::new(&face(turned), 200.0);
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
}
