//! Choosing the video decoder: software, or a hardware family where its elements exist.
//!
//! `decodebin` picks decoders by rank. Hardware decoders are registered by their plugins only
//! when the device is there (a VA-API render node, a CUDA device, a V4L2 M2M device), so "the
//! element exists" is the probe. A hardware family in use has its decoders ranked above the
//! software ones once per process ([`prepare`]); each camera then refuses, through
//! `autoplug-select`, every hardware decoder that is not its own family, so a camera configured
//! for software decoding never lands on a hardware decoder and vice versa.
//!
//! The families and their element names, x86 and ARM boxes alike: NVDEC (`nvh264dec`, NVIDIA
//! desktop GPUs), VA-API (`vah264dec`, `vaapih264dec`: Intel and AMD), Rockchip MPP
//! (`mppvideodec`, from Rockchip's own gstreamer-rockchip plugin on RK3568/RK3588 boxes) and
//! V4L2 memory-to-memory (`v4l2h264dec` stateful: Raspberry Pi 4/5, Amlogic, i.MX 8;
//! `v4l2slh264dec` stateless: mainline Rockchip and Allwinner). `auto` tries them in that order.
//! NVIDIA Jetson's `nvv4l2decoder` is in no family and is refused: it only outputs NVMM memory,
//! which needs `nvvidconv` before anything menwei links can read it, so on a Jetson `auto`
//! decodes in software rather than building a pipeline that cannot link.

use std::sync::Mutex;

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use tracing::{info, warn};

use crate::CaptureError;

/// What the config asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Decode {
    /// libav (FFmpeg) in software: always present, the default.
    #[default]
    Software,
    /// The first hardware family present (NVDEC, VA-API, Rockchip MPP, V4L2), else software
    /// with a log line.
    Auto,
    Hardware(HwFamily),
}

/// A family of hardware decoders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HwFamily {
    Vaapi,
    Nvdec,
    /// Rockchip's Media Process Platform (`mppvideodec`).
    Rkmpp,
    V4l2,
}

impl HwFamily {
    /// In the order `auto` tries them: the vendor decoders before the generic V4L2 ones (on an
    /// RK3588 both MPP and a mainline V4L2 driver may be present; MPP is the faster).
    pub const ALL: [HwFamily; 4] = [HwFamily::Nvdec, HwFamily::Vaapi, HwFamily::Rkmpp, HwFamily::V4l2];

    pub fn name(self) -> &'static str {
        match self {
            HwFamily::Vaapi => "vaapi",
            HwFamily::Nvdec => "nvdec",
            HwFamily::Rkmpp => "rkmpp",
            HwFamily::V4l2 => "v4l2",
        }
    }

    /// The factory names this family's H.264 decoders go by, for messages.
    pub fn h264_elements(self) -> &'static str {
        match self {
            HwFamily::Vaapi => "vah264dec or vaapih264dec",
            HwFamily::Nvdec => "nvh264dec",
            HwFamily::Rkmpp => "mppvideodec",
            HwFamily::V4l2 => "v4l2h264dec or v4l2slh264dec",
        }
    }

    fn owns(self, factory: &str) -> bool {
        match self {
            HwFamily::Vaapi => factory.starts_with("va"),
            HwFamily::Nvdec => factory.starts_with("nv") && !factory.starts_with("nvv4l2"),
            HwFamily::Rkmpp => factory.starts_with("mpp"),
            HwFamily::V4l2 => factory.starts_with("v4l2"),
        }
    }
}

impl Decode {
    /// Parses the config value: `software`, `auto`, `vaapi`, `nvdec`, `rkmpp` or `v4l2`.
    pub fn parse(s: &str) -> Option<Decode> {
        Some(match s {
            "software" => Decode::Software,
            "auto" => Decode::Auto,
            "vaapi" => Decode::Hardware(HwFamily::Vaapi),
            "nvdec" => Decode::Hardware(HwFamily::Nvdec),
            "rkmpp" => Decode::Hardware(HwFamily::Rkmpp),
            "v4l2" => Decode::Hardware(HwFamily::V4l2),
            _ => return None,
        })
    }

    pub const CHOICES: &'static str = "software, auto, vaapi, nvdec, rkmpp or v4l2";
}

/// A decoder choice after probing: what a camera's pipeline will use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    Software,
    Hardware(HwFamily),
}

impl Resolved {
    pub fn name(self) -> &'static str {
        match self {
            Resolved::Software => "software",
            Resolved::Hardware(f) => f.name(),
        }
    }
}

fn is_video_decoder(f: &gst::ElementFactory) -> bool {
    let klass = f.klass();
    klass.contains("Decoder") && klass.contains("Video")
}

fn is_hardware(f: &gst::ElementFactory) -> bool {
    is_hardware_named(f.name().as_str(), f.klass())
}

/// Hardware by its klass, by a family's name, or as one of the decoders no family owns
/// (`nvv4l2decoder`, see the module doc).
fn is_hardware_named(name: &str, klass: &str) -> bool {
    klass.contains("Hardware") || name.starts_with("nvv4l2") || HwFamily::ALL.iter().any(|fam| fam.owns(name))
}

fn family_decoders(family: HwFamily) -> Vec<gst::ElementFactory> {
    gst::ElementFactory::factories_with_type(gst::ElementFactoryType::DECODER, gst::Rank::NONE)
        .into_iter()
        .filter(|f| is_video_decoder(f) && is_hardware(f) && family.owns(f.name().as_str()))
        .collect()
}

/// Whether any video decoder of `family` is registered (its plugin found a device).
pub fn available(family: HwFamily) -> bool {
    !family_decoders(family).is_empty()
}

static RAISED: Mutex<Vec<HwFamily>> = Mutex::new(Vec::new());

/// Probes and prepares `decode` for a camera. `auto` falls back to software with a log line; a
/// named family that is absent is an error. Families in use are ranked above software once per
/// process.
pub fn prepare(camera: &str, decode: Decode) -> Result<Resolved, CaptureError> {
    gst::init().map_err(CaptureError::Init)?;
    let family = match decode {
        Decode::Software => return Ok(Resolved::Software),
        Decode::Auto => match HwFamily::ALL.into_iter().find(|f| available(*f)) {
            Some(f) => {
                info!(camera, family = f.name(), "decode = auto: using hardware decoding");
                f
            }
            None => {
                info!(
                    camera,
                    "decode = auto: no hardware decoder (NVDEC, VA-API, Rockchip MPP, V4L2) found; decoding in software"
                );
                return Ok(Resolved::Software);
            }
        },
        Decode::Hardware(f) => {
            if !available(f) {
                return Err(CaptureError::Decoder {
                    camera: camera.into(),
                    reason: format!(
                        "decode = {} but no {} decoder is registered (looked for {}; is the device present and \
                         the GStreamer plugin installed?). Use decode = \"auto\" to fall back to software.",
                        f.name(),
                        f.name(),
                        f.h264_elements()
                    ),
                });
            }
            f
        }
    };
    let mut raised = RAISED.lock().unwrap_or_else(|e| e.into_inner());
    if !raised.contains(&family) {
        for f in family_decoders(family) {
            let rank = gst::Rank::PRIMARY + 10;
            if f.rank() < rank {
                f.set_rank(rank);
            }
        }
        raised.push(family);
    }
    Ok(Resolved::Hardware(family))
}

/// Makes `decodebin` skip every hardware decoder that is not `resolved`'s family.
pub(crate) fn restrict(decodebin: &gst::Element, camera: &str, resolved: Resolved) {
    let Some(result_type) = glib::Type::from_name("GstAutoplugSelectResult") else {
        warn!(camera, "decodebin has no autoplug-select result type; decoder choice is left to ranks");
        return;
    };
    // GST_AUTOPLUG_SELECT_TRY = 0, GST_AUTOPLUG_SELECT_SKIP = 2. (Values are not Send, so
    // they are made in the callback.)
    decodebin.connect("autoplug-select", false, move |args| {
        let factory = args.get(3).and_then(|v| v.get::<gst::ElementFactory>().ok());
        let refuse = factory.is_some_and(|f| {
            is_video_decoder(&f)
                && is_hardware(&f)
                && match resolved {
                    Resolved::Software => true,
                    Resolved::Hardware(fam) => !fam.owns(f.name().as_str()),
                }
        });
        glib::EnumClass::with_type(result_type)?.to_value(if refuse { 2 } else { 0 })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_parse() {
        assert_eq!(Decode::parse("software"), Some(Decode::Software));
        assert_eq!(Decode::parse("nvdec"), Some(Decode::Hardware(HwFamily::Nvdec)));
        assert_eq!(Decode::parse("cuda"), None);
    }

    #[test]
    fn families_own_their_factories() {
        assert!(HwFamily::Vaapi.owns("vah264dec"));
        assert!(HwFamily::Vaapi.owns("vaapih265dec"));
        assert!(HwFamily::Nvdec.owns("nvh264dec"));
        assert!(HwFamily::V4l2.owns("v4l2slh264dec"));
        assert!(HwFamily::V4l2.owns("v4l2h265dec"));
        assert!(HwFamily::Rkmpp.owns("mppvideodec"));
        assert!(!HwFamily::Nvdec.owns("avdec_h264"));
        // Jetson's decoder outputs NVMM memory only: no family takes it, and it counts as
        // hardware, so a software camera refuses it too.
        assert!(HwFamily::ALL.iter().all(|f| !f.owns("nvv4l2decoder")));
        assert!(is_hardware_named("nvv4l2decoder", "Codec/Decoder/Video"));
        assert!(is_hardware_named("mppvideodec", "Codec/Decoder/Video"));
        assert!(!is_hardware_named("avdec_h264", "Codec/Decoder/Video"));
        assert!(!is_hardware_named("openh264dec", "Decoder/Video"));
    }

    #[test]
    fn every_family_parses_from_its_own_name() {
        for f in HwFamily::ALL {
            assert_eq!(Decode::parse(f.name()), Some(Decode::Hardware(f)));
            assert!(Decode::CHOICES.contains(f.name()));
        }
    }
}
