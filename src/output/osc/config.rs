//! The sender's settings and their checks.

use crate::engine::View;
use crate::error::{Error, Result};

use super::target::{TARGET_FORM, TARGET_SETTING};
use super::{
    OscTarget, DEFAULT_PREFIX, DEFAULT_RATE_HZ, MAX_PREFIX_LEN, MAX_RATE_HZ, MAX_SMOOTH_S,
};

/// How messages are put into UDP packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Bundles with the "immediately" time tag, as few as fit under
    /// [`MAX_PACKET_BYTES`](super::MAX_PACKET_BYTES) each.
    Bundles,
    /// Every message in its own packet (for receivers that do not understand bundles).
    Plain,
}

/// Everything the sender needs besides the tag names and the score source.
///
/// # Examples
///
/// ```
/// use mstag::engine::View;
/// use mstag::output::{Framing, OscConfig, OscTarget};
///
/// let mut cfg = OscConfig::new(vec![OscTarget::parse("127.0.0.1:7700")?]);
/// assert_eq!((cfg.prefix.as_str(), cfg.rate_hz), ("/mstag", 30));
/// cfg.prefix = "/show/tags".into();
/// cfg.view = View::Ema;
/// cfg.smooth_s = 0.5;
/// cfg.framing = Framing::Plain;
/// cfg.validate()?;
///
/// cfg.rate_hz = 0;
/// let e = cfg.validate().unwrap_err();
/// assert!(matches!(e, mstag::Error::InvalidSetting { name: "osc rate", .. }));
/// # Ok::<(), mstag::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OscConfig {
    /// Receivers; every packet goes to each of them.
    pub targets: Vec<OscTarget>,
    /// Address prefix (`/mstag`); see [`normalize_prefix`].
    pub prefix: String,
    /// Send rounds per second, 1 to [`MAX_RATE_HZ`].
    pub rate_hz: u32,
    /// Which aggregate is sent.
    pub view: View,
    /// One-pole smoothing time constant, seconds; 0 = off.
    pub smooth_s: f64,
    /// Bundles, or one message per packet.
    pub framing: Framing,
    /// Cue triggers (`<prefix>/cue/<tag> i 1|0`), checked on the values sent.
    pub triggers: Vec<super::Trigger>,
    /// Seconds a new top tag must stay on top before `<prefix>/top/changed` says so; `None`
    /// (the default) sends no such message.
    pub hold_s: Option<f64>,
}

impl OscConfig {
    /// The defaults (`/mstag`, 30 Hz, window view, no smoothing, bundles) for these receivers.
    pub fn new(targets: Vec<OscTarget>) -> OscConfig {
        OscConfig {
            targets,
            prefix: DEFAULT_PREFIX.to_string(),
            rate_hz: DEFAULT_RATE_HZ,
            view: View::Window,
            smooth_s: 0.0,
            framing: Framing::Bundles,
            triggers: Vec::new(),
            hold_s: None,
        }
    }

    /// Checks every setting. Errors are [`Error::InvalidSetting`] naming the setting:
    /// `osc target`, `osc prefix`, `osc rate` or `osc smoothing`.
    pub fn validate(&self) -> Result<()> {
        if self.targets.is_empty() {
            return Err(Error::InvalidSetting {
                name: TARGET_SETTING,
                value: String::new(),
                reason: format!("no receiver given; {TARGET_FORM}"),
            });
        }
        normalize_prefix(&self.prefix)?;
        if !(1..=MAX_RATE_HZ).contains(&self.rate_hz) {
            return Err(Error::InvalidSetting {
                name: "osc rate",
                value: self.rate_hz.to_string(),
                reason: format!("must be 1 to {MAX_RATE_HZ} messages per second"),
            });
        }
        if !(self.smooth_s.is_finite() && (0.0..=MAX_SMOOTH_S).contains(&self.smooth_s)) {
            return Err(Error::InvalidSetting {
                name: "osc smoothing",
                value: self.smooth_s.to_string(),
                reason: format!("must be 0 (off) to {MAX_SMOOTH_S} seconds"),
            });
        }
        Ok(())
    }
}

/// Validates an address prefix and returns it in canonical form: `/mstag` and `/mstag/` give
/// `/mstag`, `/show/tags` stays, `/` means no prefix (`/tag/guitar`, `/tags`, …) and gives
/// the empty string. Each part must be non-empty and use only characters valid in OSC
/// addresses. Errors are [`Error::InvalidSetting`] naming the setting `osc prefix`.
pub fn normalize_prefix(prefix: &str) -> Result<String> {
    let bad = |reason: &str| Error::InvalidSetting {
        name: "osc prefix",
        value: prefix.to_string(),
        reason: reason.to_string(),
    };
    if prefix == "/" {
        return Ok(String::new());
    }
    if !prefix.starts_with('/') {
        return Err(bad("must start with '/', e.g. /mstag"));
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return Err(bad("longer than 256 characters"));
    }
    let p = prefix.strip_suffix('/').unwrap_or(prefix);
    rosc::address::verify_address(p).map_err(|_| {
        bad(
            "each part between '/' must be non-empty and use only printable ASCII \
             other than space and # * , / ? [ ] { }",
        )
    })?;
    Ok(p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The setting an error names, or a panic for any other kind of error.
    fn setting(e: Error) -> &'static str {
        match e {
            Error::InvalidSetting { name, .. } => name,
            other => panic!("not a setting error: {other}"),
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(normalize_prefix("/mstag").unwrap(), "/mstag");
        assert_eq!(normalize_prefix("/mstag/").unwrap(), "/mstag");
        assert_eq!(normalize_prefix("/show/tags").unwrap(), "/show/tags");
        assert_eq!(normalize_prefix("/").unwrap(), "");
        for bad in ["", "mstag", "/a b", "//x", "/a//b", "/a#", "/a*"] {
            let e = normalize_prefix(bad).unwrap_err();
            let text = e.to_string();
            assert_eq!(setting(e), "osc prefix", "{bad:?}: {text}");
            assert!(!text.contains("--osc"), "{bad:?}: {text}");
        }
        let long = format!("/{}", "a".repeat(300));
        assert!(normalize_prefix(&long).is_err());
    }

    #[test]
    fn config_validation_names_the_setting() {
        let t = OscTarget::parse("127.0.0.1:9").unwrap();
        let mut c = OscConfig::new(vec![t]);
        assert!(c.validate().is_ok());
        c.rate_hz = 0;
        assert_eq!(setting(c.validate().unwrap_err()), "osc rate");
        c.rate_hz = 121;
        assert!(c.validate().is_err());
        c.rate_hz = 120;
        c.smooth_s = -1.0;
        assert_eq!(setting(c.validate().unwrap_err()), "osc smoothing");
        c.smooth_s = f64::NAN;
        assert!(c.validate().is_err());
        c.smooth_s = 0.5;
        c.prefix = "nope".into();
        assert_eq!(setting(c.validate().unwrap_err()), "osc prefix");
        c.prefix = "/ok".into();
        c.targets.clear();
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains("no receiver given"), "{e}");
        assert_eq!(setting(e), "osc target");
    }
}
