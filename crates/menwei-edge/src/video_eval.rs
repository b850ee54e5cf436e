//! `menwei-edge eval video CLIP LABELS.csv`: a clip through the real pipeline, scored per passage.
//!
//! Photos measure the models; a gate is judged by what it publishes. So the clip is played as a
//! file camera, in real time, through everything the daemon runs (capture, motion gating,
//! tracking, voting, the register, the outbox), with every labelled plate in a throw-away
//! register, and the committed events are scored against the labels: per passage exact, wrong
//! (and whether the wrong read opened the gate for another vehicle), missed, duplicate events,
//! and the time from the passage's first frame to the event's commit. The scoring ([`score`]) is
//! pure and tested on fixed events; [`run`] is the I/O around it.
//!
//! LABELS.csv: one row per passage, `plate` and, optionally, `time_s` (seconds from the start of
//! the clip at which the plate first shows). A header row is optional; `#` starts a comment.
//! With times, an event belongs to the passage whose time is the latest at or before the frame it
//! was decided on, and latencies are printed; without, events are matched by plate only.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serde::Serialize;

/// One labelled passage.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Label {
    pub plate: String,
    pub time_s: Option<f64>,
}

/// Reads LABELS.csv; errors name the line.
pub fn parse_labels(text: &str) -> Result<Vec<Label>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut cells = line.split(',').map(str::trim);
        let plate = cells.next().unwrap_or("");
        if n == 0 && plate.eq_ignore_ascii_case("plate") {
            continue;
        }
        let parsed = menwei_core::plate::PlateNumber::parse(plate)
            .map_err(|e| format!("line {}: `{plate}` is not a plate: {e}", n + 1))?;
        let time_s = match cells.next().filter(|c| !c.is_empty()) {
            None => None,
            Some(t) => Some(
                t.parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .ok_or_else(|| format!("line {}: time `{t}` is not a number of seconds", n + 1))?,
            ),
        };
        out.push(Label { plate: parsed.as_str().to_owned(), time_s });
    }
    if out.is_empty() {
        return Err("no passages".into());
    }
    if out.iter().any(|l| l.time_s.is_some()) && out.iter().any(|l| l.time_s.is_none()) {
        return Err("give a time for every passage or for none".into());
    }
    if out.windows(2).any(|w| w[0].time_s > w[1].time_s) {
        return Err("passages must be in the order of their times".into());
    }
    Ok(out)
}

/// A plate event the pipeline committed, in clip time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeenEvent {
    pub plate: String,
    /// `access.granted` for a registered vehicle; the vehicle it was granted as.
    pub granted_as: Option<String>,
    /// When the frame it was decided on arrived, seconds from the clip's first frame.
    pub frame_s: f64,
    /// When it was committed to the outbox, seconds from the clip's first frame.
    pub commit_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Exact,
    Wrong { read: String },
    Missed,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PassageResult {
    pub label: Label,
    pub outcome: Outcome,
    /// Further events for the same passage beyond the first.
    pub duplicates: usize,
    /// The plate of each of the passage's events, in order.
    pub reads: Vec<String>,
    /// A read of another plate that opened the gate as a registered vehicle other than this one.
    pub wrong_grant: bool,
    /// First frame of the passage to the commit of its first event (with label times).
    pub latency_ms: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VideoReport {
    pub passages: Vec<PassageResult>,
    /// Plate events that belong to no passage (before the first labelled time, or, without
    /// times, a plate no label has).
    pub unlabelled: Vec<SeenEvent>,
    pub exact: usize,
    pub wrong: usize,
    pub missed: usize,
    pub duplicates: usize,
    pub wrong_grants: usize,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
}

/// Scores `events` against `labels` (see the module doc).
pub fn score(labels: &[Label], events: &[SeenEvent]) -> VideoReport {
    let timed = labels.iter().all(|l| l.time_s.is_some());
    let mut groups: Vec<Vec<&SeenEvent>> = vec![Vec::new(); labels.len()];
    let mut unlabelled = Vec::new();
    if timed {
        for e in events {
            match labels.iter().rposition(|l| l.time_s.is_some_and(|t| t <= e.frame_s)) {
                Some(i) => groups[i].push(e),
                None => unlabelled.push(e.clone()),
            }
        }
    } else {
        // By plate: the k-th event of a plate goes to the k-th passage of that plate, what is
        // left over to the last one (a duplicate); other plates go to the passage whose plate is
        // nearest in the reader's sense, or to none.
        for e in events {
            let same: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].plate == e.plate).collect();
            if let Some(&i) = same.iter().find(|&&i| groups[i].is_empty()).or(same.last()) {
                groups[i].push(e);
            } else {
                unlabelled.push(e.clone());
            }
        }
    }
    let mut report = VideoReport { unlabelled, ..VideoReport::default() };
    let mut latencies = Vec::new();
    for (label, group) in labels.iter().zip(groups) {
        let first_exact = group.iter().find(|e| e.plate == label.plate);
        let outcome = match (first_exact, group.first()) {
            (Some(_), _) => Outcome::Exact,
            (None, Some(e)) => Outcome::Wrong { read: e.plate.clone() },
            (None, None) => Outcome::Missed,
        };
        let wrong_grant = group.iter().any(|e| e.granted_as.as_deref().is_some_and(|g| g != label.plate));
        let latency_ms = match (label.time_s, group.first()) {
            (Some(t), Some(e)) => Some(((e.commit_s - t) * 1e3).max(0.0)),
            _ => None,
        };
        latencies.extend(latency_ms);
        match outcome {
            Outcome::Exact => report.exact += 1,
            Outcome::Wrong { .. } => report.wrong += 1,
            Outcome::Missed => report.missed += 1,
        }
        let duplicates = group.len().saturating_sub(1);
        report.duplicates += duplicates;
        report.wrong_grants += usize::from(wrong_grant);
        let reads = group.iter().map(|e| e.plate.clone()).collect();
        report.passages.push(PassageResult {
            label: label.clone(),
            outcome,
            duplicates,
            reads,
            wrong_grant,
            latency_ms,
        });
    }
    report.wrong_grants += report.unlabelled.iter().filter(|e| e.granted_as.is_some()).count();
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies.get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied();
    (report.latency_p50_ms, report.latency_p95_ms, report.latency_max_ms) =
        (pick(0.5), pick(0.95), latencies.last().copied());
    report
}

impl fmt::Display for VideoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<4} {:<12} {:>8}  {:<26} {:>10} {:>12}",
            "#", "plate", "at (s)", "outcome", "duplicates", "latency (ms)"
        )?;
        for (i, p) in self.passages.iter().enumerate() {
            let outcome = match &p.outcome {
                Outcome::Exact => "exact".to_owned(),
                Outcome::Wrong { read } => {
                    format!("wrong: read {read}{}", if p.wrong_grant { ", GRANTED" } else { "" })
                }
                Outcome::Missed => "missed".to_owned(),
            };
            let at = p.label.time_s.map_or("-".into(), |t| format!("{t:.1}"));
            let latency = p.latency_ms.map_or("-".into(), |l| format!("{l:.0}"));
            let also = if p.duplicates > 0 { format!("  (events: {})", p.reads.join(", ")) } else { String::new() };
            writeln!(
                f,
                "{:<4} {:<12} {:>8}  {:<26} {:>10} {:>12}{also}",
                i + 1,
                p.label.plate,
                at,
                outcome,
                p.duplicates,
                latency
            )?;
        }
        for e in &self.unlabelled {
            let granted = e.granted_as.as_ref().map_or(String::new(), |g| format!(", GRANTED as {g}"));
            writeln!(f, "     unlabelled event: {} at {:.1} s{granted}", e.plate, e.frame_s)?;
        }
        let n = self.passages.len();
        let pct = |k: usize| 100.0 * k as f64 / n.max(1) as f64;
        writeln!(
            f,
            "passages {n}: exact {} ({:.1} %), wrong {}, missed {}; duplicate events {}; wrong grants {}; unlabelled events {}",
            self.exact,
            pct(self.exact),
            self.wrong,
            self.missed,
            self.duplicates,
            self.wrong_grants,
            self.unlabelled.len()
        )?;
        match (self.latency_p50_ms, self.latency_p95_ms, self.latency_max_ms) {
            (Some(a), Some(b), Some(c)) => {
                writeln!(f, "first frame to event: p50 {a:.0} ms, p95 {b:.0} ms, max {c:.0} ms")
            }
            _ => writeln!(f, "first frame to event: - (LABELS.csv gives no times)"),
        }
    }
}

/// What [`run`] needs besides the clip and labels.
#[derive(Debug)]
pub struct VideoOptions {
    /// An edge config whose `[models]`, `[matching]` and `[defaults]` are used; its cameras,
    /// broker, HTTP, register and outbox are replaced.
    pub config: Option<PathBuf>,
    /// The checkout's models, when there is no config.
    pub models_dir: PathBuf,
    /// Put every labelled plate in the register (a gate's residents), or none (visitors).
    pub register_plates: bool,
}

/// Plays `clip` through the pipeline and scores its events against `labels`.
pub fn run(clip: &Path, labels: &[Label], opts: &VideoOptions) -> Result<VideoReport> {
    anyhow::ensure!(clip.is_file(), "{} does not exist", clip.display());
    let dir = tempfile::tempdir().context("a working folder")?;
    let cfg = config_for(clip, dir.path(), opts)?;
    let paths = cfg.register.clone().context("the register")?;
    let register = menwei_register::Register::open(&paths.path, &paths.key_file).context("the register")?;
    if opts.register_plates {
        for l in labels {
            register.upsert_vehicle(&menwei_register::VehicleEntry {
                plate: l.plate.clone(),
                color: None,
                household: Some("eval".into()),
                kind: menwei_register::VehicleKind::Resident,
                valid_from_ms: None,
                valid_until_ms: None,
            })?;
        }
    }
    drop(register);
    let outbox_cfg = cfg.outbox.clone().context("the outbox")?;
    let outbox = Arc::new(Mutex::new(menwei_outbox::Outbox::open(&outbox_cfg.path, outbox_cfg.limits)?));
    let (sink, _committed) = crate::events::EventSink::new(&cfg.compound_id, outbox.clone());
    let hooks = Arc::new(crate::hooks::Hooks { events: Some(sink.clone()), ..Default::default() });
    let prepared = crate::pipeline::prepare(&cfg)?;
    let ctl = crate::pipeline::Control::default();
    let (_stop, stop_rx) = menwei_core::shutdown::channel();

    // The clip's clock: the wall time of its first frame, and each event's commit time, watched
    // from beside the inference thread.
    let commits = Arc::new(Mutex::new(Vec::<(u64, SystemTime)>::new()));
    let first_frame = Arc::new(Mutex::new(None::<SystemTime>));
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (sink, commits, first, hooks, watching) =
            (sink.clone(), commits.clone(), first_frame.clone(), hooks.clone(), watching.clone());
        std::thread::Builder::new().name("eval-watch".into()).spawn(move || {
            let mut last = 0;
            while watching.load(Ordering::Relaxed) {
                let seq = sink.last_seq();
                if seq != last {
                    commits.lock().unwrap_or_else(|e| e.into_inner()).push((seq, SystemTime::now()));
                    last = seq;
                }
                let mut f = first.lock().unwrap_or_else(|e| e.into_inner());
                if f.is_none() {
                    use menwei_capture::FrameSource as _;
                    let sources = hooks.sources.lock().unwrap_or_else(|e| e.into_inner());
                    if sources.iter().any(|s| s.frames().put_count() > 0) {
                        *f = Some(SystemTime::now());
                    }
                }
                drop(f);
                std::thread::sleep(Duration::from_millis(2));
            }
        })?
    };
    let started = Instant::now();
    let summary = crate::pipeline::run(&cfg, prepared, &ctl, &stop_rx, &mut std::io::sink(), &hooks)?;
    watching.store(false, Ordering::Relaxed);
    let _ = watcher.join();
    tracing::info!(secs = started.elapsed().as_secs_f64(), frames = ?summary.cameras.first().map(|c| c.frames_received), "clip played");

    let first = first_frame.lock().unwrap_or_else(|e| e.into_inner()).context("the clip gave no frame")?;
    let commits = commits.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let since = |t: SystemTime| t.duration_since(first).map_or(0.0, |d| d.as_secs_f64());
    let pending = outbox.lock().unwrap_or_else(|e| e.into_inner()).pending(0, usize::MAX >> 1)?;
    let mut events = Vec::new();
    for p in pending {
        let e: menwei_core::event::Event = serde_json::from_slice(&p.payload).context("an event in the outbox")?;
        let Some(menwei_core::event::Subject::Vehicle { plate, vehicle_ref, .. }) = e.subject else { continue };
        let granted_as = if e.kind == "access.granted" { vehicle_ref } else { None };
        let frame_s = unix_ms_of(&e.occurred_at)
            .map(|ms| since(SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)))
            .unwrap_or(0.0);
        // Commits are polled every 2 ms; the first poll that saw this sequence or a later one.
        let commit = commits.iter().find(|(s, _)| *s >= p.seq).map_or(frame_s, |(_, t)| since(*t));
        events.push(SeenEvent { plate, granted_as, frame_s, commit_s: commit });
    }
    Ok(score(labels, &events))
}

/// Milliseconds since the Unix epoch of an event time (`2026-12-07T16:12:45.123Z`, as
/// [`menwei_core::event::rfc3339_ms`] writes it).
fn unix_ms_of(t: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23).unwrap_or(0));
    // Days from the civil date (Howard Hinnant's algorithm, the inverse of the writer's).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

/// The config `run` plays the clip with, in `dir`.
fn config_for(clip: &Path, dir: &Path, opts: &VideoOptions) -> Result<crate::config::EdgeConfig> {
    let base: toml::Table = match &opts.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            let mut t: toml::Table = text.parse().with_context(|| format!("{} is not TOML", p.display()))?;
            for key in ["cameras", "broker", "http", "register", "outbox", "snapshots"] {
                t.remove(key);
            }
            // Relative paths in it (models) stay relative to where it is.
            if let Some(models) = t.get_mut("models").and_then(|m| m.as_table_mut()) {
                let at = p.parent().unwrap_or(Path::new("."));
                for key in ["dir", "manifest"] {
                    if let Some(v) = models.get(key).and_then(|v| v.as_str()) {
                        let abs = at.join(v);
                        models.insert(key.into(), toml::Value::String(abs.display().to_string()));
                    }
                }
            }
            t
        }
        None => {
            let mut t = toml::Table::new();
            let mut models = toml::Table::new();
            models.insert("dir".into(), opts.models_dir.display().to_string().into());
            t.insert("models".into(), models.into());
            t
        }
    };
    let mut t = base;
    t.insert("compound_id".into(), "eval".into());
    let key = dir.join("template.key");
    let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&key, hex)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    }
    let table = |pairs: &[(&str, toml::Value)]| {
        toml::Value::Table(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
    };
    let path = |p: PathBuf| toml::Value::String(p.display().to_string());
    t.insert("register".into(), table(&[("path", path(dir.join("register.db"))), ("key_file", path(key.clone()))]));
    t.insert("outbox".into(), table(&[("path", path(dir.join("outbox.db")))]));
    let camera = table(&[
        ("id", "clip".into()),
        ("url", path(clip.canonicalize()?)),
        ("gate", "clip".into()),
        ("direction", "entry".into()),
        ("role", "plate".into()),
    ]);
    t.insert("cameras".into(), toml::Value::Array(vec![camera]));
    let text = t.to_string();
    crate::config::parse(&text, &dir.join("edge.toml")).map_err(|e| anyhow::anyhow!("the eval config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(plate: &str, granted_as: Option<&str>, at: f64) -> SeenEvent {
        SeenEvent { plate: plate.into(), granted_as: granted_as.map(Into::into), frame_s: at, commit_s: at + 0.1 }
    }

    #[test]
    fn event_times_read_back_as_written() {
        for ms in [0i64, 1_764_000_000_123, 1_796_659_965_999, 951_782_400_000] {
            assert_eq!(unix_ms_of(&menwei_core::event::rfc3339_ms(ms)), Some(ms));
        }
        assert_eq!(unix_ms_of("soon"), None);
    }

    #[test]
    fn labels_parse_with_or_without_times_and_errors_name_the_line() {
        let l = parse_labels("plate,time_s\n京A12345, 2.0\n# a comment\n冀G·12345,6.5\n").unwrap();
        assert_eq!(
            l,
            vec![
                Label { plate: "京A12345".into(), time_s: Some(2.0) },
                Label { plate: "冀G12345".into(), time_s: Some(6.5) }
            ]
        );
        assert_eq!(parse_labels("京A12345\n川A105LR\n").unwrap().len(), 2);
        assert!(parse_labels("京A1234\n").unwrap_err().starts_with("line 1: `京A1234` is not a plate"));
        assert!(parse_labels("京A12345,soon\n").unwrap_err().contains("line 1: time `soon`"));
        assert_eq!(parse_labels("京A12345,2\n川A105LR\n").unwrap_err(), "give a time for every passage or for none");
        assert_eq!(
            parse_labels("京A12345,5\n川A105LR,2\n").unwrap_err(),
            "passages must be in the order of their times"
        );
        assert_eq!(parse_labels("plate\n").unwrap_err(), "no passages");
    }

    #[test]
    fn passages_are_exact_wrong_missed_or_duplicated_by_time() {
        let labels = parse_labels("京A12345,0\n川A105LR,5\n冀G12345,10\n津E22602,15\n").unwrap();
        let events = [
            ev("京A12345", Some("京A12345"), 1.0),
            ev("京A12345", Some("京A12345"), 2.0), // a second event for the same passage
            ev("川A1O5LR", Some("京A12345"), 6.0), // misread, and granted as another car
            ev("津E22602", Some("津E22602"), 15.5),
        ];
        let r = score(&labels, &events);
        let outcomes: Vec<_> = r.passages.iter().map(|p| p.outcome.clone()).collect();
        assert_eq!(
            outcomes,
            [Outcome::Exact, Outcome::Wrong { read: "川A1O5LR".into() }, Outcome::Missed, Outcome::Exact]
        );
        assert_eq!((r.exact, r.wrong, r.missed, r.duplicates, r.wrong_grants), (2, 1, 1, 1, 1));
        assert!(r.passages[1].wrong_grant && !r.passages[0].wrong_grant);
        assert_eq!(r.passages[0].reads, ["京A12345", "京A12345"]);
        assert_eq!(r.passages[0].latency_ms.map(f64::round), Some(1100.0));
        assert_eq!(r.passages[2].latency_ms, None);
        // 1.1 s, 1.1 s (the wrong read also has its time) and 0.6 s: the median is 1.1 s.
        let round = |v: Option<f64>| v.map(f64::round);
        assert_eq!((round(r.latency_p50_ms), round(r.latency_max_ms)), (Some(1100.0), Some(1100.0)));
        let text = r.to_string();
        assert!(text.contains("wrong: read 川A1O5LR, GRANTED"), "{text}");
        assert!(
            text.contains("passages 4: exact 2 (50.0 %), wrong 1, missed 1; duplicate events 1; wrong grants 1"),
            "{text}"
        );
    }

    #[test]
    fn without_times_events_match_by_plate_and_strangers_are_unlabelled() {
        let labels = parse_labels("京A12345\n京A12345\n川A105LR\n").unwrap();
        let events = [
            ev("京A12345", None, 1.0),
            ev("京A12345", None, 9.0),
            ev("京A12345", None, 12.0),
            ev("粤B00000", Some("川A105LR"), 3.0),
        ];
        let r = score(&labels, &events);
        assert_eq!((r.exact, r.missed, r.duplicates), (2, 1, 1), "{r}");
        assert_eq!(r.unlabelled.len(), 1);
        assert_eq!(r.wrong_grants, 1, "a stranger's plate that opened the gate counts");
        assert!(r.latency_p95_ms.is_none());
    }
}
