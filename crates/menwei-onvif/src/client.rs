//! Asking one device for its streams: the calls `onvif probe` makes, in order.
//!
//! 1. `GetSystemDateAndTime`, unauthenticated, for the device's clock (tokens are stamped in it).
//! 2. `GetDeviceInformation`, authenticated: who made it, and whether the credentials work.
//! 3. `GetServices` for the Media2 (ver20) and Media (ver10) addresses; `GetCapabilities` when a
//!    device does not know `GetServices`.
//! 4. `GetProfiles` and, per video profile, `GetStreamUri` (RTSP), on Media2 when the device
//!    has it, else on Media.

use std::time::{Duration, SystemTime};

use crate::answers::{self, DeviceInfo, Fault, Profile};
use crate::soap::{self, NS_DEVICE, NS_MEDIA1, NS_MEDIA2, NS_SCHEMA, UsernameToken};
use crate::xml::{self, Node};

/// A user name and password for the device. The password is never printed.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"***").finish()
    }
}

/// Why a probe stopped. Every variant names the address it was talking to; none holds a
/// password.
#[derive(Debug, thiserror::Error)]
pub enum OnvifError {
    #[error("{url}: no answer within {timeout:?} (is it an ONVIF device, and is ONVIF enabled on it?)")]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: cannot reach the device: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "{url}: the device refused user `{user}` ({detail}); check the user and password, and that the user exists in the camera's ONVIF user list (often separate from its web users)"
    )]
    NotAuthorized { url: String, user: String, detail: String },
    #[error("{url}: the device asks for credentials (--user and --password)")]
    NeedsCredentials { url: String },
    #[error("{url}: {action} failed: {fault}")]
    Fault { url: String, action: &'static str, fault: Fault },
    #[error("{url}: {action} answered HTTP {status}")]
    Http { url: String, action: &'static str, status: u16 },
    #[error("{url}: {action}: {reason}")]
    BadAnswer { url: String, action: &'static str, reason: String },
    #[error("{url}: the device lists no media service, so it has no streams to offer")]
    NoMedia { url: String },
    #[error("`{0}` is not a host, host:port or http:// URL")]
    BadAddress(String),
}

/// What a probe found.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub device_url: String,
    pub info: DeviceInfo,
    /// `Media2` or `Media`.
    pub media: &'static str,
    pub profiles: Vec<Profile>,
    /// The device's clock minus ours, in seconds, when it told us.
    pub clock_offset_secs: Option<i64>,
}

/// A device's address from what an installer types: `192.168.1.64`, `cam:8080`, or a full
/// `http://` device-service URL.
pub fn device_url(host: &str) -> Result<String, OnvifError> {
    let host = host.trim();
    if host.starts_with("http://") || host.starts_with("https://") {
        return Ok(host.to_owned());
    }
    if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        return Err(OnvifError::BadAddress(host.to_owned()));
    }
    Ok(format!("http://{host}/onvif/device_service"))
}

/// One device, its credentials and its clock.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    url: String,
    creds: Option<Credentials>,
    timeout: Duration,
    offset_secs: i64,
}

impl Client {
    pub fn new(host: &str, creds: Option<Credentials>, timeout: Duration) -> Result<Client, OnvifError> {
        let agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
        Ok(Client { agent, url: device_url(host)?, creds, timeout, offset_secs: 0 })
    }

    fn token(&self) -> Option<UsernameToken> {
        let c = self.creds.as_ref()?;
        let mut nonce = [0u8; 16];
        // An OS without randomness cannot happen on the boxes this runs on; a fixed nonce
        // would still authenticate, only less well.
        let _ = getrandom::fill(&mut nonce);
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let created = menwei_core::event::rfc3339_ms((now + self.offset_secs) * 1000);
        Some(UsernameToken::new(&c.user, &c.password, &nonce, &created))
    }

    /// Posts `body` to `url` and returns the answer's envelope, or the fault as an error.
    fn call(&self, url: &str, action: &'static str, body: &str, auth: bool) -> Result<Node, OnvifError> {
        let token = if auth { self.token() } else { None };
        let envelope = soap::envelope(body, token.as_ref());
        let sent = self.agent.post(url).header("content-type", "application/soap+xml; charset=utf-8").send(&envelope);
        let mut answer = match sent {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Err(OnvifError::Timeout { url: url.to_owned(), timeout: self.timeout });
            }
            Err(e) => return Err(OnvifError::Unreachable { url: url.to_owned(), reason: e.to_string() }),
        };
        let status = answer.status().as_u16();
        let text = match answer.body_mut().read_to_string() {
            Ok(t) => t,
            Err(ureq::Error::Timeout(_)) => {
                return Err(OnvifError::Timeout { url: url.to_owned(), timeout: self.timeout });
            }
            Err(e) => return Err(OnvifError::Unreachable { url: url.to_owned(), reason: e.to_string() }),
        };
        let parsed = xml::parse(&text);
        if let Some(fault) = parsed.as_ref().ok().and_then(answers::fault) {
            return Err(if fault.not_authorized() {
                match &self.creds {
                    Some(c) => {
                        OnvifError::NotAuthorized { url: url.to_owned(), user: c.user.clone(), detail: fault.reason }
                    }
                    None => OnvifError::NeedsCredentials { url: url.to_owned() },
                }
            } else {
                OnvifError::Fault { url: url.to_owned(), action, fault }
            });
        }
        if status == 401 {
            return Err(match &self.creds {
                Some(c) => {
                    OnvifError::NotAuthorized { url: url.to_owned(), user: c.user.clone(), detail: "HTTP 401".into() }
                }
                None => OnvifError::NeedsCredentials { url: url.to_owned() },
            });
        }
        if !(200..300).contains(&status) {
            return Err(OnvifError::Http { url: url.to_owned(), action, status });
        }
        parsed.map_err(|e| OnvifError::BadAnswer { url: url.to_owned(), action, reason: e.to_string() })
    }

    /// Asks the device for everything `onvif probe` prints.
    pub fn probe(&mut self) -> Result<Report, OnvifError> {
        let url = self.url.clone();
        let clock =
            self.call(&url, "GetSystemDateAndTime", &format!("<GetSystemDateAndTime xmlns=\"{NS_DEVICE}\"/>"), false);
        let device_now = match clock {
            Ok(answer) => answers::system_time(&answer),
            // Connection problems end the probe here, with their own message.
            Err(e @ (OnvifError::Timeout { .. } | OnvifError::Unreachable { .. })) => return Err(e),
            Err(_) => None,
        };
        let ours = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let clock_offset_secs = device_now.map(|t| t - ours);
        self.offset_secs = clock_offset_secs.unwrap_or(0);

        let info =
            self.call(&url, "GetDeviceInformation", &format!("<GetDeviceInformation xmlns=\"{NS_DEVICE}\"/>"), true)?;
        let info = answers::device_info(&info);
        let (media2, media1) = self.media_services(&url)?;
        let (media, profiles) = match (media2, media1) {
            (Some(m2), _) => ("Media2", self.profiles(&m2, true)?),
            (None, Some(m1)) => ("Media", self.profiles(&m1, false)?),
            (None, None) => return Err(OnvifError::NoMedia { url }),
        };
        Ok(Report { device_url: url, info, media, profiles, clock_offset_secs })
    }

    /// The Media2 and Media addresses.
    fn media_services(&self, url: &str) -> Result<(Option<String>, Option<String>), OnvifError> {
        let services = self.call(
            url,
            "GetServices",
            &format!("<GetServices xmlns=\"{NS_DEVICE}\"><IncludeCapability>false</IncludeCapability></GetServices>"),
            true,
        );
        match services {
            Ok(answer) => {
                let list = answers::services(&answer);
                let find = |ns: &str| list.iter().find(|(n, _)| n == ns).map(|(_, x)| x.clone());
                Ok((find(NS_MEDIA2), find(NS_MEDIA1)))
            }
            // Older devices know GetCapabilities only.
            Err(OnvifError::Fault { .. } | OnvifError::Http { .. }) => {
                let caps = self.call(
                    url,
                    "GetCapabilities",
                    &format!("<GetCapabilities xmlns=\"{NS_DEVICE}\"><Category>All</Category></GetCapabilities>"),
                    true,
                )?;
                Ok((None, answers::media_from_capabilities(&caps)))
            }
            Err(e) => Err(e),
        }
    }

    fn profiles(&self, media: &str, v2: bool) -> Result<Vec<Profile>, OnvifError> {
        let ask = if v2 {
            format!("<GetProfiles xmlns=\"{NS_MEDIA2}\"><Type>All</Type></GetProfiles>")
        } else {
            format!("<GetProfiles xmlns=\"{NS_MEDIA1}\"/>")
        };
        let mut profiles = answers::profiles(&self.call(media, "GetProfiles", &ask, true)?);
        for p in &mut profiles {
            let token = soap::escape(&p.token);
            let ask = if v2 {
                format!(
                    "<GetStreamUri xmlns=\"{NS_MEDIA2}\"><Protocol>RTSP</Protocol><ProfileToken>{token}</ProfileToken></GetStreamUri>"
                )
            } else {
                format!(
                    "<GetStreamUri xmlns=\"{NS_MEDIA1}\"><StreamSetup><Stream xmlns=\"{NS_SCHEMA}\">RTP-Unicast</Stream>\
                     <Transport xmlns=\"{NS_SCHEMA}\"><Protocol>RTSP</Protocol></Transport></StreamSetup>\
                     <ProfileToken>{token}</ProfileToken></GetStreamUri>"
                )
            };
            let answer = self.call(media, "GetStreamUri", &ask, true)?;
            p.uri = answers::stream_uri(&answer);
        }
        profiles.sort_by_key(|p| std::cmp::Reverse(p.pixels()));
        Ok(profiles)
    }
}

impl Report {
    /// The profiles as an installer reads them, largest first.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} {} (firmware {}), {} at {}\n",
            or_dash(&self.info.manufacturer),
            or_dash(&self.info.model),
            or_dash(&self.info.firmware),
            self.media,
            self.device_url
        );
        if let Some(o) = self.clock_offset_secs.filter(|o| o.abs() > 5) {
            out += &format!(
                "note: the device's clock is {o:+} s from this machine's; event times come from the edge box\n"
            );
        }
        for p in &self.profiles {
            let fps = p.fps.map(|f| format!("{f} fps")).unwrap_or_else(|| "? fps".into());
            out += &format!(
                "  {:<16} {:>4}x{:<4} {:<5} {:<8} {}\n",
                p.name,
                p.width,
                p.height,
                p.encoding,
                fps,
                p.uri.as_deref().unwrap_or("(no RTSP URL)")
            );
        }
        out
    }

    /// A `[[cameras]]` block for `edge.toml`: the largest stream as the camera's URL, with the
    /// user name in it and `PASSWORD` where the password goes (it is not printed).
    pub fn camera_block(&self, id: &str, user: Option<&str>) -> Option<String> {
        let main = self.profiles.iter().find(|p| p.uri.is_some())?;
        let with_user = |uri: &str| match (user, uri.split_once("://")) {
            (Some(u), Some((scheme, rest))) if !rest.contains('@') => format!("{scheme}://{u}:PASSWORD@{rest}"),
            _ => uri.to_owned(),
        };
        let mut block = format!(
            "# {} {}: the {}x{} {} stream. Replace PASSWORD, then `menwei-edge check-config`.\n\
             [[cameras]]\nid = \"{id}\"\nurl = \"{}\"\n# gate = \"north\"\n",
            or_dash(&self.info.manufacturer),
            or_dash(&self.info.model),
            main.width,
            main.height,
            main.encoding,
            with_user(main.uri.as_deref().unwrap_or_default())
        );
        if let Some(sub) = self.profiles.iter().rev().find(|p| p.uri.is_some() && p.pixels() < main.pixels()) {
            block += &format!(
                "# The smallest stream, {}x{} {}, is {}\n# (a detect sub-stream: menwei analyses one stream per camera today).\n",
                sub.width,
                sub.height,
                sub.encoding,
                with_user(sub.uri.as_deref().unwrap_or_default())
            );
        }
        Some(block)
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_device_service_urls() {
        assert_eq!(device_url("192.168.1.64").unwrap(), "http://192.168.1.64/onvif/device_service");
        assert_eq!(device_url("cam:8080").unwrap(), "http://cam:8080/onvif/device_service");
        assert_eq!(device_url("http://10.0.0.2/onvif/device_service").unwrap(), "http://10.0.0.2/onvif/device_service");
        assert!(device_url("a b").is_err() && device_url("").is_err() && device_url("cam/onvif").is_err());
    }

    #[test]
    fn credentials_never_print_their_password() {
        let c = Credentials { user: "admin".into(), password: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
