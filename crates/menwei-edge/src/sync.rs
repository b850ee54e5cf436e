//! Register updates from central (`menwei/v1/<compound>/sync`), applied in order.
//!
//! The relay hands each payload to the handler made here; the handler applies it to the
//! register and, when the version moved, bumps the register generation so that the inference
//! thread reloads templates and vehicles ([`crate::recognition::Known::load`]). A malformed or
//! failing update is logged and not acknowledged: central sends it again.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use menwei_core::event::SyncBatch;
use tracing::{info, warn};

use crate::config::{EdgeConfig, RegisterPaths};
use crate::hooks::Hooks;
use crate::relay::SyncHandler;

/// The handler, when the config has a register.
pub fn handler(cfg: &EdgeConfig, hooks: &Arc<Hooks>) -> Option<SyncHandler> {
    let register = cfg.register.clone()?;
    let hooks = hooks.clone();
    Some(Box::new(move |payload: &[u8]| apply(&register, &hooks, payload)))
}

/// Applies one payload; the register's version after it, or `None` when nothing could be
/// applied.
fn apply(register: &RegisterPaths, hooks: &Hooks, payload: &[u8]) -> Option<u64> {
    let batch: SyncBatch = match serde_json::from_slice(payload) {
        Ok(b) => b,
        Err(e) => {
            warn!("ignoring a malformed register update: {e}");
            return None;
        }
    };
    let result = menwei_register::Register::open(&register.path, &register.key_file).and_then(|mut r| {
        let before = r.version()?;
        let after = r.apply_sync(&batch)?;
        Ok((before, after))
    });
    match result {
        Ok((before, after)) => {
            if after != before {
                info!(version = after, erased = batch.erase.len(), "register update applied");
                hooks.register_version.store(after, Ordering::SeqCst);
                hooks.register_generation.fetch_add(1, Ordering::SeqCst);
            } else if batch.version > after + 1 {
                warn!(got = batch.version, at = after, "register update out of order: waiting for the missing ones");
            }
            Some(after)
        }
        Err(e) => {
            warn!("cannot apply a register update: {e}");
            None
        }
    }
}
