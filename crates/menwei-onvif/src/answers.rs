//! What a device's SOAP answers say, read from their element trees: no I/O here.

use crate::xml::Node;

/// A SOAP fault: the code, the ONVIF subcode (`ter:NotAuthorized`) and the reason text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub code: String,
    pub subcode: Option<String>,
    pub reason: String,
}

impl Fault {
    /// Whether the device refused the credentials.
    pub fn not_authorized(&self) -> bool {
        let sub = self.subcode.as_deref().unwrap_or_default();
        sub.ends_with("NotAuthorized") || sub.ends_with("FailedAuthentication") || self.reason.contains("uthori")
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.subcode {
            Some(s) => write!(f, "{} ({}, {s})", self.reason, self.code),
            None => write!(f, "{} ({})", self.reason, self.code),
        }
    }
}

/// The body's first element, the answer itself.
pub fn body(envelope: &Node) -> Option<&Node> {
    envelope.child("Body").and_then(|b| b.children.first())
}

/// The fault in an envelope, if it is one.
pub fn fault(envelope: &Node) -> Option<Fault> {
    let f = body(envelope).filter(|n| n.name == "Fault")?;
    // SOAP 1.2: Code/Value, Code/Subcode/Value, Reason/Text; SOAP 1.1: faultcode, faultstring.
    let code = f.text_at(&["Code", "Value"]).or_else(|| f.text_at(&["faultcode"])).unwrap_or("?").to_owned();
    let subcode = f.text_at(&["Code", "Subcode", "Value"]).map(str::to_owned);
    let reason = f.text_at(&["Reason", "Text"]).or_else(|| f.text_at(&["faultstring"])).unwrap_or("no reason given");
    Some(Fault { code, subcode, reason: reason.to_owned() })
}

/// The device's UTC clock from `GetSystemDateAndTimeResponse`, in Unix seconds.
pub fn system_time(envelope: &Node) -> Option<i64> {
    let utc = body(envelope)?.find("UTCDateTime")?;
    let n = |path: &[&str]| utc.text_at(path).and_then(|t| t.parse::<i64>().ok());
    let (y, mo, d) = (n(&["Date", "Year"])?, n(&["Date", "Month"])?, n(&["Date", "Day"])?);
    let (h, mi, s) = (n(&["Time", "Hour"])?, n(&["Time", "Minute"])?, n(&["Time", "Second"])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Who made the device, from `GetDeviceInformationResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    pub manufacturer: String,
    pub model: String,
    pub firmware: String,
}

pub fn device_info(envelope: &Node) -> DeviceInfo {
    let b = body(envelope);
    let t = |name: &str| b.and_then(|b| b.text_at(&[name])).unwrap_or_default().to_owned();
    DeviceInfo { manufacturer: t("Manufacturer"), model: t("Model"), firmware: t("FirmwareVersion") }
}

/// The services a device lists in `GetServicesResponse`: (namespace, address).
pub fn services(envelope: &Node) -> Vec<(String, String)> {
    let Some(b) = body(envelope) else { return Vec::new() };
    b.all("Service")
        .filter_map(|s| Some((s.text_at(&["Namespace"])?.to_owned(), s.text_at(&["XAddr"])?.to_owned())))
        .collect()
}

/// The media service's address in `GetCapabilitiesResponse` (devices without GetServices).
pub fn media_from_capabilities(envelope: &Node) -> Option<String> {
    body(envelope)?.find("Media")?.text_at(&["XAddr"]).map(str::to_owned)
}

/// One media profile: a stream the device encodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub token: String,
    pub name: String,
    /// `H264`, `H265`, `JPEG`...
    pub encoding: String,
    pub width: u32,
    pub height: u32,
    pub fps: Option<f32>,
    /// The RTSP URL, once asked for.
    pub uri: Option<String>,
}

impl Profile {
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// The profiles with a video encoder in a `GetProfilesResponse`, Media (ver10) or Media2
/// (ver20): Media puts the encoder in `VideoEncoderConfiguration`, Media2 in
/// `Configurations/VideoEncoder`. Profiles without video (audio or metadata only) are left out.
pub fn profiles(envelope: &Node) -> Vec<Profile> {
    let Some(b) = body(envelope) else { return Vec::new() };
    b.all("Profiles")
        .filter_map(|p| {
            let enc = p.child("VideoEncoderConfiguration").or_else(|| p.at(&["Configurations", "VideoEncoder"]))?;
            let num = |path: &[&str]| enc.text_at(path).and_then(|t| t.parse::<f32>().ok());
            Some(Profile {
                token: p.attr("token")?.to_owned(),
                name: p.text_at(&["Name"]).unwrap_or_default().to_owned(),
                encoding: enc.text_at(&["Encoding"]).unwrap_or("?").to_owned(),
                width: num(&["Resolution", "Width"])? as u32,
                height: num(&["Resolution", "Height"])? as u32,
                fps: num(&["RateControl", "FrameRateLimit"]),
                uri: None,
            })
        })
        .collect()
}

/// The URL in a `GetStreamUriResponse` (Media: `MediaUri/Uri`; Media2: `Uri`).
pub fn stream_uri(envelope: &Node) -> Option<String> {
    let b = body(envelope)?;
    b.text_at(&["MediaUri", "Uri"]).or_else(|| b.text_at(&["Uri"])).map(str::to_owned)
}

/// The device addresses in a WS-Discovery `ProbeMatches`: each match's `XAddrs`, a
/// space-separated list.
pub fn probe_matches(envelope: &Node) -> Vec<String> {
    let mut matches = Vec::new();
    if let Some(b) = body(envelope) {
        b.find_all("ProbeMatch", &mut matches);
    }
    matches
        .into_iter()
        .filter_map(|m| m.text_at(&["XAddrs"]))
        .flat_map(|x| x.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_count_days_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 12, 7), 20_794);
    }
}
