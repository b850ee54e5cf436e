//! Webhook delivery: the work-order notifications queued in `webhook_deliveries` (in the same
//! transaction as the change) are POSTed as JSON, and retried with exponential backoff (5 s,
//! 10 s, 20 s ... up to 10 minutes apart) until the receiver answers 2xx or `max_attempts` is
//! reached, when the delivery is marked failed and stays visible in the table and metrics.
//!
//! Several instances share the table: a delivery is claimed by moving its `next_ms` forward in
//! a transaction before it is sent, so two instances do not send it at the same moment.

use std::time::Duration;

use tokio::sync::watch;
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

/// Claims the deliveries that are due (at most 20), pushing their next attempt out.
fn claim(db: &Db, now_ms: i64, first_retry_ms: i64) -> Result<Vec<(i64, String, String, i64)>, DbError> {
    db.tx(|t| {
        let due = t.query(
            "SELECT id, url, body, attempts FROM webhook_deliveries
             WHERE delivered_ms IS NULL AND failed_ms IS NULL AND next_ms <= $1 ORDER BY id LIMIT 20",
            params![now_ms],
        )?;
        for r in &due {
            t.exec(
                "UPDATE webhook_deliveries SET next_ms = $2 WHERE id = $1",
                params![r.int(0), now_ms + backoff_ms(first_retry_ms, r.int(3))],
            )?;
        }
        Ok(due.iter().map(|r| (r.int(0), r.text(1), r.text(2), r.int(3))).collect())
    })
}

fn send(agent: &ureq::Agent, url: &str, body: &str) -> Result<(), String> {
    match agent.post(url).header("content-type", "application/json").send(body) {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status())),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs until `stop`.
pub async fn run(db: Db, cfg: WebhookConfig, mut stop: watch::Receiver<bool>) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(cfg.timeout)).http_status_as_error(false).build().into();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        let now = crate::api::now_ms();
        let (db2, agent2, max, first) = (db.clone(), agent.clone(), cfg.max_attempts, cfg.first_retry_ms);
        let done = tokio::task::spawn_blocking(move || -> Result<(), DbError> {
            for (id, url, body, attempts) in claim(&db2, now, first)? {
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
                            t.exec(
                                "UPDATE webhook_deliveries SET attempts = $2, last_error = $3, failed_ms = $4 WHERE id = $1",
                                params![id, attempts, e.as_str(), failed],
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
