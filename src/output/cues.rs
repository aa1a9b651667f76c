//! Cue triggers with hysteresis, and the top tag's changes, as events for shows: a cue turns
//! on when a value rises above its ON threshold and off when it falls below its OFF threshold
//! (lower, so a value wobbling around one threshold does not chatter), and the top tag is
//! announced when it has changed and stayed for a hold time.
//!
//! The events are the outputs' own business: OSC sends `<prefix>/cue/<tag> i 1|0` and
//! `<prefix>/top/changed s`, the WebSocket a JSON message.

use std::time::{Duration, Instant};

use crate::engine::HeadLabels;
use crate::error::{Error, Result};

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
    /// use mstag::output::cues::Trigger;
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

/// One trigger, resolved: where its value is and whether it is on.
#[derive(Debug, Clone)]
struct Armed {
    index: usize,
    on: f32,
    off: f32,
    active: bool,
    /// The trigger's target as given (`rock`, `HEAD/label`).
    target: String,
    /// `[tag]`, or `[head, label]`.
    path: Vec<String>,
}

/// What [`Cues::update`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CueEvent {
    /// Trigger number `trigger` (in the order given to [`Cues::new`]) turned on or off.
    Cue {
        /// Index of the trigger.
        trigger: usize,
        /// On (rose above ON) or off (fell below OFF).
        on: bool,
    },
    /// A new top tag (index in manifest order) has stayed on top for the hold time.
    TopChanged {
        /// The tag's index.
        tag: usize,
    },
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
}

impl Cues {
    /// Resolves `triggers` against the tags (manifest order) and heads (values laid out tags
    /// first, then each head's labels); `hold` is how long a new top tag must stay on top
    /// before it is announced (`None`: never).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming a trigger whose tag is neither a tag nor a head's
    /// `HEAD/label`.
    pub fn new(
        tags: &[String],
        heads: &[HeadLabels],
        triggers: &[Trigger],
        hold: Option<Duration>,
    ) -> Result<Cues> {
        let mut armed = Vec::with_capacity(triggers.len());
        for t in triggers {
            let (index, path) = match tags.iter().position(|n| n == &t.target) {
                Some(i) => (i, vec![t.target.clone()]),
                None => {
                    let mut start = tags.len();
                    let mut found = None;
                    for h in heads {
                        for (k, l) in h.labels.iter().enumerate() {
                            if format!("{}/{}", h.name, l) == t.target {
                                found = Some((start + k, vec![h.name.clone(), l.clone()]));
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
                target: t.target.clone(),
                path,
            });
        }
        Ok(Cues {
            armed,
            tags: tags.to_vec(),
            hold,
            top: None,
            announced: None,
        })
    }

    /// The target of trigger `trigger` as given (`rock`, `HEAD/label`).
    pub fn target(&self, trigger: usize) -> &str {
        self.armed.get(trigger).map_or("", |a| a.target.as_str())
    }

    /// The target of trigger `trigger` as `[tag]` or `[head, label]`.
    pub fn path(&self, trigger: usize) -> &[String] {
        self.armed.get(trigger).map_or(&[], |a| a.path.as_slice())
    }

    /// The name of tag `tag` (manifest order).
    pub fn tag(&self, tag: usize) -> &str {
        self.tags.get(tag).map_or("", |t| t.as_str())
    }

    /// Whether trigger `trigger` is on now.
    pub fn is_on(&self, trigger: usize) -> bool {
        self.armed.get(trigger).is_some_and(|a| a.active)
    }

    /// How many triggers there are.
    pub fn len(&self) -> usize {
        self.armed.len()
    }

    /// True without triggers.
    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }

    /// Looks at one round's values (tags, then head labels) at time `now`; pushes the events
    /// to send onto `events`.
    pub fn update(&mut self, values: &[f32], now: Instant, events: &mut Vec<CueEvent>) {
        for (k, a) in self.armed.iter_mut().enumerate() {
            let Some(&v) = values.get(a.index) else {
                continue;
            };
            if !a.active && v > a.on {
                a.active = true;
                events.push(CueEvent::Cue {
                    trigger: k,
                    on: true,
                });
            } else if a.active && v < a.off {
                a.active = false;
                events.push(CueEvent::Cue {
                    trigger: k,
                    on: false,
                });
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
                events.push(CueEvent::TopChanged { tag: t });
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
        let mut cues = Cues::new(&names(), &[], &[t], None).unwrap();
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
        let states: Vec<bool> = events
            .iter()
            .map(|e| match *e {
                CueEvent::Cue { trigger: 0, on } => on,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(states, [true, false, true]);
        assert!(cues.is_on(0));
        assert_eq!(
            (cues.target(0), cues.path(0)),
            ("rock", &["rock".to_string()][..])
        );
    }

    #[test]
    fn the_top_tag_is_announced_once_it_has_held() {
        let mut cues = Cues::new(&names(), &[], &[], Some(Duration::from_secs(2))).unwrap();
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
        assert_eq!(ev[1], CueEvent::TopChanged { tag: 1 });
        assert_eq!(cues.tag(1), "piano");
    }

    #[test]
    fn triggers_name_tags_or_head_labels() {
        let heads = [HeadLabels {
            name: "Cues".into(),
            labels: vec!["drop".into(), "verse".into()],
        }];
        let t = Trigger::parse("Cues/verse>0.5").unwrap();
        let mut c = Cues::new(&names(), &heads, &[t], Some(Duration::ZERO)).unwrap();
        let mut ev = Vec::new();
        c.update(&[0.0, 0.0, 0.1, 0.9], Instant::now(), &mut ev);
        assert!(ev.contains(&CueEvent::Cue {
            trigger: 0,
            on: true
        }));
        assert_eq!(c.path(0), ["Cues".to_string(), "verse".to_string()]);
        let e = Cues::new(
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
