//! Event snapshots: the picture behind an access or security event, kept on the edge box only
//! (never published), named by the event's sequence number, and pruned by age and count.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use menwei_core::image::RgbView;

#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotSettings {
    pub dir: PathBuf,
    pub keep: Duration,
    pub max_files: usize,
}

/// Writes and prunes snapshots.
#[derive(Debug, Clone)]
pub struct Snapshots {
    s: SnapshotSettings,
}

impl Snapshots {
    pub fn new(s: SnapshotSettings) -> std::io::Result<Self> {
        std::fs::create_dir_all(&s.dir)?;
        Ok(Self { s })
    }

    pub fn dir(&self) -> &Path {
        &self.s.dir
    }

    /// Saves `frame` as `<seq>.jpg` (quality 85) and prunes; returns the file written.
    pub fn save(&self, seq: u64, frame: RgbView<'_>) -> std::io::Result<PathBuf> {
        let mut packed = Vec::with_capacity((frame.width() * frame.height() * 3) as usize);
        for y in 0..frame.height() {
            packed.extend_from_slice(&frame.row(y)[..frame.width() as usize * 3]);
        }
        let path = self.s.dir.join(format!("{seq:012}.jpg"));
        let tmp = path.with_extension("part");
        {
            let file = std::fs::File::create(&tmp)?;
            let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), 85);
            enc.encode(&packed, frame.width(), frame.height(), image::ExtendedColorType::Rgb8)
                .map_err(std::io::Error::other)?;
        }
        std::fs::rename(&tmp, &path)?;
        self.prune(SystemTime::now())?;
        Ok(path)
    }

    /// Removes snapshots older than the retention, then the oldest beyond `max_files`.
    pub fn prune(&self, now: SystemTime) -> std::io::Result<usize> {
        let mut files: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(&self.s.dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "jpg"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        files.sort();
        let mut removed = 0;
        let excess = files.len().saturating_sub(self.s.max_files);
        for (i, (t, p)) in files.iter().enumerate() {
            let old = now.duration_since(*t).is_ok_and(|age| age > self.s.keep);
            if (old || i < excess) && std::fs::remove_file(p).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_written_and_pruned_by_count_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let s = Snapshots::new(SnapshotSettings {
            dir: dir.path().join("snaps"),
            keep: Duration::from_secs(3600),
            max_files: 2,
        })
        .unwrap();
        let px = vec![200u8; 4 * 3 * 3];
        let view = RgbView::packed(4, 3, &px).unwrap();
        for seq in 1..=3 {
            s.save(seq, view).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut names: Vec<String> =
            std::fs::read_dir(s.dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        names.sort();
        assert_eq!(names, vec!["000000000002.jpg", "000000000003.jpg"]);
        assert!(image::open(s.dir().join("000000000003.jpg")).is_ok());
        // A day later everything is past the retention.
        assert_eq!(s.prune(SystemTime::now() + Duration::from_secs(86_400)).unwrap(), 2);
    }
}
