//! What a client may send: its subscription (which view, how many tags) or a request to
//! switch the input device; checked strictly, and paced by a token bucket.

use std::time::Instant;

use serde::Deserialize;

use crate::scores::{View, MAX_TAGS};

/// What one client receives: every view with every tag (the default, the schema of
/// `mstag-live --json`), or one view, or only the top N tags of each view sent.
///
/// # Examples
/// ```
/// use mstag::engine::View;
/// use mstag::output::ws::Subscription;
/// let s = Subscription { view: Some(View::Ema), top: Some(5) };
/// assert_eq!(Subscription::unpack(s.pack()), s);
/// assert!(Subscription::default().is_everything());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Subscription {
    /// One view only; `None`: all three.
    pub view: Option<View>,
    /// Only the N best tags of each view sent, best first; `None`: every tag in manifest
    /// order.
    pub top: Option<u8>,
}

impl Subscription {
    /// True for the default (everything, as `--json` lines).
    pub fn is_everything(&self) -> bool {
        self.view.is_none() && self.top.is_none()
    }

    /// The subscription as one number (for an atomic shared between threads).
    pub fn pack(&self) -> u32 {
        let view = self.view.map_or(0, |v| v.index() as u32 + 1);
        view | (u32::from(self.top.unwrap_or(0)) << 8)
    }

    /// The inverse of [`Subscription::pack`].
    pub fn unpack(x: u32) -> Subscription {
        let view = match x & 0xff {
            0 => None,
            k => View::ALL.get(k as usize - 1).copied(),
        };
        let top = match (x >> 8) & 0xff {
            0 => None,
            n => Some(n as u8),
        };
        Subscription { view, top }
    }
}

/// A checked control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// `{"view": "window"|"session"|"ema"|"all", "top": N|0|null}`, either key optional.
    Subscribe(Subscription),
    /// `{"device": "NAME"}`: analyse another input device (as `--input` names it).
    Device(String),
}

/// Longest device name accepted in a control message, bytes.
const MAX_DEVICE_NAME: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    view: Option<String>,
    #[serde(default, deserialize_with = "top_or_null")]
    top: Option<Option<u32>>,
    device: Option<String>,
}

/// Keeps `"top": null` apart from no `top` at all.
fn top_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

impl Control {
    /// Parses one text message; the reason when it is not a control this server knows.
    ///
    /// # Examples
    /// ```
    /// use mstag::engine::View;
    /// use mstag::output::ws::{Control, Subscription};
    /// let c = Control::parse(r#"{"view":"ema","top":5}"#).unwrap();
    /// assert_eq!(c, Control::Subscribe(Subscription { view: Some(View::Ema), top: Some(5) }));
    /// assert!(Control::parse(r#"{"view":"loudest"}"#).is_err());
    /// assert!(Control::parse("top 5").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Control, String> {
        let raw: RawControl = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if let Some(device) = raw.device {
            if raw.view.is_some() || raw.top.is_some() {
                return Err("`device` comes alone".into());
            }
            let device = device.trim();
            if device.is_empty() || device.len() > MAX_DEVICE_NAME {
                return Err(format!("a device name has 1 to {MAX_DEVICE_NAME} bytes"));
            }
            return Ok(Control::Device(device.to_string()));
        }
        if raw.view.is_none() && raw.top.is_none() {
            return Err("nothing asked: `view`, `top` or `device` expected".into());
        }
        let view = match raw.view.as_deref() {
            None | Some("all") => None,
            Some(name) => Some(
                View::ALL
                    .into_iter()
                    .find(|v| v.name() == name)
                    .ok_or_else(|| format!("no view {name:?} (session, window, ema or all)"))?,
            ),
        };
        let top = match raw.top {
            None | Some(None) | Some(Some(0)) => None,
            Some(Some(n)) if n as usize <= MAX_TAGS.min(255) => Some(n as u8),
            Some(Some(n)) => return Err(format!("top {n}: at most {}", MAX_TAGS.min(255))),
        };
        Ok(Control::Subscribe(Subscription { view, top }))
    }
}

/// A token bucket: `burst` messages at once, refilled at `per_s` a second.
#[derive(Debug, Clone)]
pub(crate) struct RateLimit {
    tokens: f64,
    burst: f64,
    per_s: f64,
    last: Instant,
}

impl RateLimit {
    pub(crate) fn new(per_s: u32, now: Instant) -> RateLimit {
        let burst = f64::from(per_s.max(1));
        RateLimit {
            tokens: burst,
            burst,
            per_s: burst,
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.per_s).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn subscriptions_and_devices_parse() {
        assert_eq!(
            Control::parse(r#"{"view":"all","top":null}"#).unwrap(),
            Control::Subscribe(Subscription::default())
        );
        assert_eq!(
            Control::parse(r#"{"top":10}"#).unwrap(),
            Control::Subscribe(Subscription {
                view: None,
                top: Some(10)
            })
        );
        assert_eq!(
            Control::parse(r#"{"device":" USB Audio "}"#).unwrap(),
            Control::Device("USB Audio".into())
        );
        for p in 0..=255u32 {
            let s = Subscription::unpack(p | (p << 8));
            assert_eq!(Subscription::unpack(s.pack()), s);
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for (bad, why) in [
            ("{}", "nothing asked"),
            (r#"{"view":"window","volume":11}"#, "unknown field"),
            (r#"{"top":-1}"#, "invalid"),
            (r#"{"top":500}"#, "at most"),
            (r#"{"device":"x","top":3}"#, "alone"),
            (r#"{"device":""}"#, "device name"),
            (r#"[1,2]"#, "invalid type"),
            ("\u{0}", "expected"),
        ] {
            let e = Control::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_bucket_lets_a_burst_through_then_the_rate() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(10, t0);
        let burst = (0..50).filter(|_| r.allow(t0)).count();
        assert_eq!(burst, 10);
        // Over the next 2 s, at 100 tries a second: 20 more.
        let later = (1..=200)
            .filter(|k| r.allow(t0 + Duration::from_millis(10 * k)))
            .count();
        assert!((19..=21).contains(&later), "{later}");
    }
}
