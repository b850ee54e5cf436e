//! Retry timing shared by everything that reconnects (cameras, the MQTT relay).

use std::time::Duration;

/// `d` spread by up to +-20 % so that clients behind one failed switch or broker do not retry
/// in lockstep. `entropy` is any varying number (callers pass the clock's nanoseconds).
pub fn jittered(d: Duration, entropy: u32) -> Duration {
    d.mul_f64(0.8 + 0.4 * f64::from(entropy % 1000) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let d = Duration::from_secs(10);
        assert_eq!(jittered(d, 0), Duration::from_secs(8));
        assert!(jittered(d, 999) < Duration::from_secs(12) && jittered(d, 999) > Duration::from_millis(11_990));
    }
}
