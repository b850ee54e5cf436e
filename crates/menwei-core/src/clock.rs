//! Time as the daemon's logic sees it: a [`Clock`] the tests can move.
//!
//! Deadlines (a camera's offline grace, a detector's period, an idle check) are computed from
//! [`Clock::now`] rather than from `Instant::now()` directly, so that a test can step a
//! [`ManualClock`] past a deadline instead of sleeping until it passes.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A monotonic clock and the wall clock beside it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Instant;
    /// Milliseconds since the Unix epoch.
    fn unix_ms(&self) -> i64;
}

/// The machine's clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn unix_ms(&self) -> i64 {
        unix_ms(SystemTime::now())
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A clock that moves only when told to: both of its clocks advance together.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    start_unix_ms: i64,
    elapsed: Mutex<Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self { start: Instant::now(), start_unix_ms: SystemClock.unix_ms(), elapsed: Mutex::new(Duration::ZERO) }
    }

    pub fn advance(&self, d: Duration) {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner()) += d;
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
    fn unix_ms(&self) -> i64 {
        self.start_unix_ms + self.elapsed().as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new();
        let (t0, w0) = (c.now(), c.unix_ms());
        std::thread::yield_now();
        assert_eq!((c.now(), c.unix_ms()), (t0, w0));
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now() - t0, Duration::from_millis(1500));
        assert_eq!(c.unix_ms() - w0, 1500);
    }
}
