//! Webhook delivery: the work-order notifications queued in `webhook_deliveries` (in the same
//! transaction as the change) are POSTed as JSON, and retried with exponential backoff (5 s,
//! 10 s, 20 s ... up to 10 minutes apart) until the receiver answers 2xx or `max_attempts` is
//! reached, when the delivery is marked failed and stays visible in the table and metrics.
//!
//! Several instances share the table: a delivery is claimed by moving its `next_ms` past the
//! send's timeout with a conditional update before it is sent, so two instances never send it
//! at the same moment. Deliveries given up on stay in the table (`failed_ms`) and are counted
//! by `menwei_central_webhook_failed_deliveries`.

use std::time::Duration;

use tracing::{info, warn};

use crate::db::{Db, DbError};
use crate::params;

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub max_attempts: i64,
    pub timeout: Duration,
    /// The wait before the first retry; each later one doubles it (10 minutes at most).
    pub first_retry_ms: i64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self { max_attempts: 10, timeout: Duration::from_secs(10), first_retry_ms: 5_000 }
    }
}

fn backoff_ms(first: i64, attempts: i64) -> i64 {
    (first << attempts.clamp(0, 16)).min(600_000)
}

/// Claims the oldest due delivery. Its `next_ms` is moved past the send's timeout by a
/// conditional update (`... AND next_ms = <the value read>`), so of several instances exactly
/// one gets it, on both engines; a crash mid-send leaves it to be retried after that lease.
fn claim_one(db: &Db, now_ms: i64, lease_ms: i64) -> Result<Option<(i64, String, String, i64)>, DbError> {
    db.with(|t| {
        loop {
            let Some(r) = t.one(
                "SELECT id, url, body, attempts, next_ms FROM webhook_deliveries
                 WHERE delivered_ms IS NULL AND failed_ms IS NULL AND next_ms <= $1 ORDER BY next_ms, id LIMIT 1",
                params![now_ms],
            )?
            else {
                return Ok(None);
            };
            let taken = t.exec(
                "UPDATE webhook_deliveries SET next_ms = $2 WHERE id = $1 AND next_ms = $3",
                params![r.int(0), now_ms + lease_ms, r.int(4)],
            )?;
            if taken == 1 {
                return Ok(Some((r.int(0), r.text(1), r.text(2), r.int(3))));
            }
        }
    })
}

/// Why a delivery failed; stored as the delivery's `last_error`.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("HTTP {0}")]
    Status(ureq::http::StatusCode),
    #[error("{0}")]
    Transport(#[from] ureq::Error),
}

fn send(agent: &ureq::Agent, url: &str, body: &str) -> Result<(), DeliveryError> {
    match agent.post(url).header("content-type", "application/json").send(body) {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(DeliveryError::Status(r.status())),
        Err(e) => Err(e.into()),
    }
}

/// Runs until `stop`.
pub async fn run(db: Db, cfg: WebhookConfig, stop: menwei_core::shutdown::Receiver) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(cfg.timeout)).http_status_as_error(false).build().into();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let down = stop.down();
    tokio::pin!(down);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut down => return,
        }
        let now = crate::api::now_ms();
        let (db2, agent2, max, first) = (db.clone(), agent.clone(), cfg.max_attempts, cfg.first_retry_ms);
        let lease_ms = cfg.timeout.as_millis() as i64 + 5_000;
        let done = tokio::task::spawn_blocking(move || -> Result<(), DbError> {
            // At most 20 a tick, one claimed at a time.
            for _ in 0..20 {
                let Some((id, url, body, attempts)) = claim_one(&db2, now, lease_ms)? else { break };
                let result = send(&agent2, &url, &body);
                let attempts = attempts + 1;
                db2.with(|t| {
                    match &result {
                        Ok(()) => {
                            t.exec(
                                "UPDATE webhook_deliveries SET delivered_ms = $2, attempts = $3, last_error = NULL WHERE id = $1",
                                params![id, crate::api::now_ms(), attempts],
                            )?;
                        }
                        Err(e) => {
                            let failed = (attempts >= max).then(crate::api::now_ms);
                            let next = crate::api::now_ms() + backoff_ms(first, attempts - 1);
                            t.exec(
                                "UPDATE webhook_deliveries SET attempts = $2, last_error = $3, failed_ms = $4, next_ms = $5
                                 WHERE id = $1",
                                params![id, attempts, e.to_string(), failed, next],
                            )?;
                        }
                    }
                    Ok(())
                })?;
                match result {
                    Ok(()) => info!(id, attempts, "webhook delivered"),
                    // The URL may carry a secret in its query: log the host only.
                    Err(e) => warn!(id, attempts, host = %host(&url), "webhook failed: {e}"),
                }
            }
            Ok(())
        })
        .await;
        match done {
            Ok(Err(e)) => warn!("webhooks: {e}"),
            Err(e) => warn!("webhooks: {e}"),
            Ok(Ok(())) => {}
        }
    }
}

fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).rsplit('@').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_ten_minutes_and_logs_show_only_the_host() {
        assert_eq!(backoff_ms(5_000, 0), 5_000);
        assert_eq!(backoff_ms(5_000, 1), 10_000);
        assert_eq!(backoff_ms(5_000, 20), 600_000);
        assert_eq!(host("https://u:secret@hooks.example/x?token=1"), "hooks.example");
    }
}
