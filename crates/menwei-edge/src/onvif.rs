//! `menwei-edge onvif probe` and `onvif discover`: an installer's way to a camera's RTSP URL.
//!
//! The ONVIF conversation itself is menwei-onvif's; this module reads the command line's
//! password from the environment when it is not given and prints what installers need.

use std::net::ToSocketAddrs;
use std::time::Duration;

use anyhow::{Context, Result};
use menwei_onvif::{Client, Credentials};

/// The environment variable read for the password when `--password` is not given, so that it
/// stays out of the shell history and `ps`.
pub const PASSWORD_VAR: &str = "MENWEI_ONVIF_PASSWORD";

/// Probes `host` and prints its streams; with `camera_id`, a `[[cameras]]` block too.
pub fn probe(
    host: &str,
    user: Option<&str>,
    password: Option<String>,
    timeout: Duration,
    camera_id: Option<&str>,
) -> Result<()> {
    let password = password.or_else(|| std::env::var(PASSWORD_VAR).ok());
    let creds = match (user, password) {
        (Some(u), Some(p)) => Some(Credentials { user: u.to_owned(), password: p }),
        (Some(_), None) => anyhow::bail!("--user needs a password: --password, or {PASSWORD_VAR} in the environment"),
        (None, Some(_)) => anyhow::bail!("a password needs --user"),
        (None, None) => None,
    };
    eprintln!("asking {host} (timeout {timeout:?} per call)...");
    let report = Client::new(host, creds, timeout)?.probe()?;
    print!("{}", report.table());
    if report.profiles.is_empty() {
        anyhow::bail!("{host}: the device has no video profiles");
    }
    if let Some(id) = camera_id {
        let block = report.camera_block(id, user).context("no profile has an RTSP URL")?;
        println!();
        print!("{block}");
    }
    Ok(())
}

/// Sends a WS-Discovery probe to `to` (the multicast group by default) and prints each device
/// address that answered within `timeout`.
pub fn discover(to: Option<&str>, timeout: Duration) -> Result<()> {
    let target = to.unwrap_or(menwei_onvif::discover::MULTICAST);
    let addr = target
        .to_socket_addrs()
        .with_context(|| format!("`{target}` is not an address (host:port)"))?
        .next()
        .with_context(|| format!("`{target}` resolves to nothing"))?;
    eprintln!("probing {addr} for {timeout:?}...");
    let found = menwei_onvif::discover::discover(addr, timeout).with_context(|| format!("cannot probe {addr}"))?;
    if found.is_empty() {
        anyhow::bail!(
            "no ONVIF device answered within {timeout:?} (ONVIF may be off on the cameras, or multicast blocked between \
             subnets: try `onvif probe HOST`)"
        );
    }
    for a in &found {
        println!("{a}");
    }
    eprintln!(
        "{} device address{}; `menwei-edge onvif probe HOST --user U` lists its streams",
        found.len(),
        if found.len() == 1 { "" } else { "es" }
    );
    Ok(())
}
