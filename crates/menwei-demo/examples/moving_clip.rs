//! Makes a clip for `menwei-edge eval video`: each photo drives up to the gate (see
//! `menwei_demo::moving`), with an AAC track first, and writes its LABELS.csv beside it. The
//! plate of each photo is its file name (as in ../shared/data's EasyPR set).
//!
//!     cargo run -p menwei-demo --example moving_clip -- OUT_DIR PHOTO...

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let out = args.next().ok_or_else(|| anyhow::anyhow!("usage: moving_clip OUT_DIR PHOTO..."))?;
    let photos: Vec<PathBuf> = args.collect();
    anyhow::ensure!(!photos.is_empty(), "usage: moving_clip OUT_DIR PHOTO...");
    std::fs::create_dir_all(&out)?;
    let clip = menwei_demo::moving::Approach::gate().build(&out, &photos)?;
    let with_audio = menwei_demo::with_audio(&clip.file, clip.secs, true, &out.join("clip.mp4"))?;
    let mut labels = String::from("plate,time_s\n");
    for (p, t) in photos.iter().zip(&clip.first_shown_s) {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        labels += &format!("{stem},{t:.1}\n");
    }
    std::fs::write(out.join("labels.csv"), labels)?;
    std::fs::remove_file(&clip.file)?;
    println!("{} ({} s) and {}", with_audio.display(), clip.secs, out.join("labels.csv").display());
    Ok(())
}
