//! Cue triggers with hysteresis, and the top tag's changes, as OSC events for shows:
//! `<prefix>/cue/<tag> i 1` when a value rises above its ON threshold, `i 0` when it falls
//! below its OFF threshold (lower, so a value wobbling around one threshold does not chatter),
//! and `<prefix>/top/changed s` when the top tag has changed and stayed for a hold time.

use std::time::{Duration, Instant};

use rosc::{OscMessage, OscPacket, OscType};

use crate::engine::HeadLabels;
use crate::error::{Error, Result};

use super::messages::sanitize_tag;

/// The gap below ON where OFF sits when `TAG>ON` gives no OFF.
pub const DEFAULT_HYSTERESIS: f32 = 0.1;

/// A cue trigger as `--trigger TAG>ON[:OFF]` writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// A tag name, or `HEAD/label` for a head of your own.
    pub target: String,
    /// Rising above this turns the cue on.
    pub on: f32,
    /// Falling below this turns it off (less than `on`).
    pub off: f32,
}

fn bad(value: &str, reason: &str) -> Error {
    Error::InvalidSetting {
        name: "trigger",
        value: value.to_string(),
        reason: format!("{reason} (the form is TAG>ON[:OFF], e.g. rock>0.6:0.4)"),
    }
}

impl Trigger {
    /// Parses `TAG>ON[:OFF]`: thresholds in 0..1, OFF below ON (default ON − 0.1, at least 0).
    ///
    /// # Examples
    /// ```
    /// use mstag::output::osc::Trigger;
    /// let t = Trigger::parse("no vocals>0.7:0.5")?;
    /// assert_eq!((t.target.as_str(), t.on, t.off), ("no vocals", 0.7, 0.5));
    /// assert!((Trigger::parse("rock>0.6")?.off - 0.5).abs() < 1e-6);
    /// assert!(Trigger::parse("rock>0.4:0.6").is_err());
    /// # Ok::<(), mstag::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<Trigger> {
        let (target, rest) = s.rsplit_once('>').ok_or_else(|| bad(s, "no '>'"))?;
        let target = target.trim();
        if target.is_empty() {
            return Err(bad(s, "no tag before '>'"));
        }
        let (on, off) = match rest.split_once(':') {
            Some((on, off)) => (on, Some(off)),
            None => (rest, None),
        };
        let num = |t: &str| -> Result<f32> {
            match t.trim().parse::<f32>() {
                Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
                _ => Err(bad(
                    s,
                    &format!("{:?} is not a threshold from 0 to 1", t.trim()),
                )),
            }
        };
        let on = num(on)?;
        let off = match off {
            Some(o) => num(o)?,
            None => (on - DEFAULT_HYSTERESIS).max(0.0),
        };
        if off >= on {
            return Err(bad(s, "OFF must be below ON"));
        }
        Ok(Trigger {
            target: target.to_string(),
            on,
            off,
        })
    }
}

/// One trigger, resolved: where its value is and what it sends.
#[derive(Debug, Clone)]
struct Armed {
    index: usize,
    on: f32,
    off: f32,
    active: bool,
    addr: String,
}

/// The state of every trigger and of the top tag, fed the values of each send round.
#[derive(Debug, Clone)]
pub struct Cues {
    armed: Vec<Armed>,
    tags: Vec<String>,
    hold: Option<Duration>,
    /// The current top tag and since when it has been on top.
    top: Option<(usize, Instant)>,
    /// The top tag last announced.
    announced: Option<usize>,
    changed_addr: String,
}

impl Cues {
    /// Resolves `triggers` against the tags (manifest order) and heads (values laid out tags
    /// first, then each head's labels); `hold` is how long a new top tag must stay on top
    /// before `<prefix>/top/changed` says so (`None`: never).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming a trigger whose tag is neither a tag nor a head's
    /// `HEAD/label`.
    pub fn new(
        prefix: &str,
        tags: &[String],
        heads: &[HeadLabels],
        triggers: &[Trigger],
        hold: Option<Duration>,
    ) -> Result<Cues> {
        let mut armed = Vec::with_capacity(triggers.len());
        for t in triggers {
            let (index, part) = match tags.iter().position(|n| n == &t.target) {
                Some(i) => (i, sanitize_tag(&t.target)),
                None => {
                    let mut start = tags.len();
                    let mut found = None;
                    for h in heads {
                        for (k, l) in h.labels.iter().enumerate() {
                            if format!("{}/{}", h.name, l) == t.target {
                                found = Some((
                                    start + k,
                                    format!("{}/{}", sanitize_tag(&h.name), sanitize_tag(l)),
                                ));
                            }
                        }
                        start += h.labels.len();
                    }
                    found.ok_or_else(|| {
                        bad(
                            &t.target,
                            "not a tag of these models nor a head's HEAD/label",
                        )
                    })?
                }
            };
            armed.push(Armed {
                index,
                on: t.on,
                off: t.off,
                active: false,
                addr: format!("{prefix}/cue/{part}"),
            });
        }
        Ok(Cues {
            armed,
            tags: tags.to_vec(),
            hold,
            top: None,
            announced: None,
            changed_addr: format!("{prefix}/top/changed"),
        })
    }

    /// Looks at one round's values (tags, then head labels) at time `now`; pushes the events
    /// to send onto `events`.
    pub fn update(&mut self, values: &[f32], now: Instant, events: &mut Vec<OscPacket>) {
        let msg = |addr: &str, arg: OscType| {
            OscPacket::Message(OscMessage {
                addr: addr.to_string(),
                args: vec![arg],
            })
        };
        for a in &mut self.armed {
            let Some(&v) = values.get(a.index) else {
                continue;
            };
            if !a.active && v > a.on {
                a.active = true;
                events.push(msg(&a.addr, OscType::Int(1)));
            } else if a.active && v < a.off {
                a.active = false;
                events.push(msg(&a.addr, OscType::Int(0)));
            }
        }
        let n = self.tags.len().min(values.len());
        let Some(hold) = self.hold else {
            return;
        };
        if n == 0 {
            return;
        }
        let best = (1..n).fold(0, |b, i| if values[i] > values[b] { i } else { b });
        match self.top {
            Some((t, _)) if t == best => {}
            _ => self.top = Some((best, now)),
        }
        if let Some((t, since)) = self.top {
            if self.announced != Some(t) && now.duration_since(since) >= hold {
                self.announced = Some(t);
                events.push(msg(
                    &self.changed_addr,
                    OscType::String(self.tags[t].clone()),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["rock", "piano"].iter().map(|s| s.to_string()).collect()
    }

    /// Count of real crossings of a trace by the hysteresis rule, written independently.
    fn expected(trace: &[f32], on: f32, off: f32) -> usize {
        let mut state = false;
        let mut n = 0;
        for &v in trace {
            if (!state && v > on) || (state && v < off) {
                state = !state;
                n += 1;
            }
        }
        n
    }

    #[test]
    fn a_wobbling_value_does_not_chatter() {
        let t = Trigger::parse("rock>0.6:0.4").unwrap();
        let mut cues = Cues::new("/mstag", &names(), &[], &[t], None).unwrap();
        // Up to 0.65, wobbling ±0.08 around 0.6 for a while, then down to 0.3, around 0.4
        // (never below 0.35 while it wobbles), then up again.
        let mut trace = Vec::new();
        for i in 0..400 {
            let wobble = 0.08 * ((i as f32) * 1.7).sin();
            let base = match i {
                0..=49 => i as f32 / 50.0 * 0.6,
                50..=149 => 0.6,
                150..=199 => 0.3,
                200..=299 => 0.42,
                _ => 0.7,
            };
            trace.push((base + wobble).clamp(0.0, 1.0));
        }
        let t0 = Instant::now();
        let mut events = Vec::new();
        for (k, v) in trace.iter().enumerate() {
            cues.update(
                &[*v, 0.0],
                t0 + Duration::from_millis(33 * k as u64),
                &mut events,
            );
        }
        let want = expected(&trace, 0.6, 0.4);
        assert_eq!(events.len(), want, "{events:?}");
        assert_eq!(
            want, 3,
            "on, off, on: the wobbles around one threshold never count"
        );
        let args: Vec<OscType> = events
            .iter()
            .map(|e| match e {
                OscPacket::Message(m) => {
                    assert_eq!(m.addr, "/mstag/cue/rock");
                    m.args[0].clone()
                }
                OscPacket::Bundle(_) => panic!(),
            })
            .collect();
        assert_eq!(args, [OscType::Int(1), OscType::Int(0), OscType::Int(1)]);
    }

    #[test]
    fn the_top_tag_is_announced_once_it_has_held() {
        let mut cues = Cues::new("/m", &names(), &[], &[], Some(Duration::from_secs(2))).unwrap();
        let t0 = Instant::now();
        let mut ev = Vec::new();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        cues.update(&[0.5, 0.1], at(0.0), &mut ev);
        cues.update(&[0.5, 0.1], at(1.9), &mut ev);
        assert!(ev.is_empty());
        cues.update(&[0.5, 0.1], at(2.0), &mut ev);
        assert_eq!(ev.len(), 1);
        // Piano on top for a moment only: nothing; then for good.
        cues.update(&[0.1, 0.5], at(3.0), &mut ev);
        cues.update(&[0.5, 0.1], at(3.5), &mut ev);
        cues.update(&[0.1, 0.5], at(4.0), &mut ev);
        cues.update(&[0.1, 0.5], at(6.1), &mut ev);
        assert_eq!(ev.len(), 2);
        match &ev[1] {
            OscPacket::Message(m) => {
                assert_eq!(m.addr, "/m/top/changed");
                assert_eq!(m.args, [OscType::String("piano".into())]);
            }
            OscPacket::Bundle(_) => panic!(),
        }
    }

    #[test]
    fn triggers_name_tags_or_head_labels() {
        let heads = [HeadLabels {
            name: "Cues".into(),
            labels: vec!["drop".into(), "verse".into()],
        }];
        let t = Trigger::parse("Cues/verse>0.5").unwrap();
        let mut c = Cues::new("/mstag", &names(), &heads, &[t], Some(Duration::ZERO)).unwrap();
        let mut ev = Vec::new();
        c.update(&[0.0, 0.0, 0.1, 0.9], Instant::now(), &mut ev);
        assert!(ev
            .iter()
            .any(|e| matches!(e, OscPacket::Message(m) if m.addr == "/mstag/cue/cues/verse")));
        let e = Cues::new(
            "/m",
            &names(),
            &heads,
            &[Trigger::parse("jazz>0.5").unwrap()],
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("jazz") && e.contains("not a tag"), "{e}");
        for bad in ["rock", ">0.5", "rock>1.5", "rock>0.5:0.7", "rock>x"] {
            assert!(Trigger::parse(bad).is_err(), "{bad}");
        }
    }
}
