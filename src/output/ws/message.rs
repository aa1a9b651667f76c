//! The texts the server sends: scores (the `mstag-live --json` line, or a client's part of
//! it), cue events, the greeting and notices.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::calibration::Scale;
use crate::output::cues::{CueEvent, Cues};
use crate::output::json::{finite, HeadView, LiveLine, TagMap};
use crate::scores::{top_k, HeadLabels, Scores, View};

use super::Subscription;

/// What every scores message is made from.
pub(crate) struct Names<'a> {
    pub tags: &'a [String],
    pub heads: &'a [HeadLabels],
    pub scale: Scale,
}

/// The scores as `mstag-live --json` writes them (the default subscription), each score in
/// its shortest decimal form.
pub(crate) fn scores_text(n: &Names<'_>, s: &Scores, is_final: bool) -> String {
    LiveLine::new(n.tags, s, is_final)
        .with_heads(n.heads)
        .with_scale(n.scale)
        .to_json()
}

/// The scores cut down to a client's subscription: other views left out, and with a top N,
/// each view's N best tags, best first (ties in manifest order); the other keys as in
/// [`scores_text`], each score in its shortest decimal form.
pub(crate) fn subscribed_text(
    n: &Names<'_>,
    s: &Scores,
    is_final: bool,
    sub: Subscription,
) -> String {
    // Serialising strings, finite-or-null numbers and booleans cannot fail.
    serde_json::to_string(&PartLine {
        n,
        s,
        is_final,
        sub,
    })
    .unwrap_or_default()
}

struct PartLine<'a> {
    n: &'a Names<'a>,
    s: &'a Scores,
    is_final: bool,
    sub: Subscription,
}

/// `{tag: score}` of the `k` best, best first.
struct TopMap<'a> {
    names: &'a [String],
    scores: &'a [f32],
    k: usize,
}

impl Serialize for TopMap<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let best = top_k(self.scores, self.k);
        let mut map = ser.serialize_map(Some(best.len()))?;
        for i in best {
            let x = self.scores[i];
            let value = x.is_finite().then_some(x);
            match self.names.get(i) {
                Some(name) => map.serialize_entry(name, &value)?,
                None => map.serialize_entry(&format!("tag{i}"), &value)?,
            }
        }
        map.end()
    }
}

impl Serialize for PartLine<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let (n, s, sub) = (self.n, self.s, self.sub);
        let views: Vec<View> = View::ALL
            .into_iter()
            .filter(|v| sub.view.is_none_or(|w| w == *v))
            .collect();
        let mut map = ser.serialize_map(None)?;
        map.serialize_entry("t", &finite((s.t * 1e4).round() / 1e4))?;
        for &v in &views {
            match sub.top {
                Some(k) => map.serialize_entry(
                    v.name(),
                    &TopMap {
                        names: n.tags,
                        scores: s.view(v),
                        k: k as usize,
                    },
                )?,
                None => map.serialize_entry(v.name(), &TagMap::new(n.tags, s.view(v)))?,
            }
        }
        if !n.heads.is_empty() {
            struct Heads<'b>(&'b [View], &'b [HeadLabels], &'b Scores);
            impl Serialize for Heads<'_> {
                fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                    let mut map = ser.serialize_map(Some(self.0.len()))?;
                    for &v in self.0 {
                        let h = HeadView {
                            heads: self.1,
                            scores: self.2.head_view(v),
                        };
                        map.serialize_entry(v.name(), &h)?;
                    }
                    map.end()
                }
            }
            map.serialize_entry("heads", &Heads(&views, n.heads, s))?;
        }
        map.serialize_entry("dropped", &s.dropped)?;
        map.serialize_entry("silent", &s.silent)?;
        map.serialize_entry("looped", &s.looped)?;
        map.serialize_entry("final", &self.is_final)?;
        if n.scale != Scale::Raw {
            map.serialize_entry("scale", n.scale.name())?;
        }
        map.end()
    }
}

/// `{"cue": "rock", "on": true, "t": 12.5}` or `{"top_changed": "rock", "t": 12.5}`.
pub(crate) fn cue_value(cues: &Cues, e: CueEvent, t: f64) -> Value {
    let t = (t * 1e4).round() / 1e4;
    match e {
        CueEvent::Cue { trigger, on } => json!({"cue": cues.target(trigger), "on": on, "t": t}),
        CueEvent::TopChanged { tag } => json!({"top_changed": cues.tag(tag), "t": t}),
    }
}

/// What a client learns when it connects.
#[derive(Debug, Clone, Default)]
pub struct Greeting {
    /// The input being analysed, in words.
    pub input: String,
    /// Input devices a client may switch to, as (id, name): the id is what `{"device": ...}`
    /// sends (empty: none, e.g. a file is playing).
    pub devices: Vec<(String, String)>,
}

/// `{"hello": {...}}`: the tag and head names, the scale, the rate, the input and the devices,
/// whether this client's controls are accepted, and the cue triggers with their state now (a
/// client that connects late still knows which cues are on).
pub(crate) fn hello_value(
    n: &Names<'_>,
    g: &Greeting,
    rate_hz: u32,
    control: bool,
    cues: &Cues,
) -> Value {
    let cue_state: Map<String, Value> = (0..cues.len())
        .map(|k| (cues.target(k).to_string(), json!(cues.is_on(k))))
        .collect();
    let heads: Map<String, Value> = n
        .heads
        .iter()
        .map(|h| (h.name.clone(), json!(h.labels)))
        .collect();
    json!({"hello": {
        "tags": n.tags,
        "heads": heads,
        "views": View::ALL.map(View::name),
        "scale": n.scale.name(),
        "rate_hz": rate_hz,
        "input": g.input,
        "devices": g.devices.iter().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>(),
        "control": control,
        "cues": cue_state,
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["rock", "piano", "jazz"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn scores() -> Scores {
        let mut s = Scores {
            n_tags: 3,
            seq: 4,
            t: 2.5,
            ..Scores::default()
        };
        s.window[..3].copy_from_slice(&[0.2, 0.7, 0.5]);
        s.ema[..3].copy_from_slice(&[0.9, 0.1, 0.0]);
        s
    }

    #[test]
    fn the_default_is_the_json_line_and_a_subscription_cuts_it() {
        let tags = names();
        let n = Names {
            tags: &tags,
            heads: &[],
            scale: Scale::Calibrated,
        };
        let s = scores();
        let text = scores_text(&n, &s, false);
        // The whole subscription is the --json line itself.
        assert_eq!(
            subscribed_text(&n, &s, false, Subscription::default()),
            text
        );
        assert_eq!(
            text,
            LiveLine::new(&tags, &s, false)
                .with_scale(Scale::Calibrated)
                .to_json()
        );
        let sub = Subscription {
            view: Some(View::Window),
            top: Some(2),
        };
        let cut: Value = serde_json::from_str(&subscribed_text(&n, &s, false, sub)).unwrap();
        let keys: Vec<&String> = cut.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["t", "window", "dropped", "silent", "looped", "final", "scale"]
        );
        let window: Vec<(&String, f64)> = cut["window"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k, v.as_f64().unwrap()))
            .collect();
        assert_eq!(window.len(), 2);
        assert_eq!(
            (window[0].0.as_str(), window[1].0.as_str()),
            ("piano", "jazz")
        );
        assert_eq!(window[0].1, 0.7, "the shortest form, as in --json lines");
        let text = subscribed_text(&n, &s, false, sub);
        assert!(
            text.contains(r#""window":{"piano":0.7,"jazz":0.5}"#),
            "{text}"
        );
        // All views, top 1 each.
        let all_top1 = Subscription {
            view: None,
            top: Some(1),
        };
        let cut: Value = serde_json::from_str(&subscribed_text(&n, &s, false, all_top1)).unwrap();
        assert_eq!(
            cut["ema"].as_object().unwrap().keys().next().unwrap(),
            "rock"
        );
        assert_eq!(cut["session"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn cue_events_name_their_tag() {
        use crate::output::cues::Trigger;
        let cues = Cues::new(&names(), &[], &[Trigger::parse("jazz>0.5").unwrap()], None).unwrap();
        let v = cue_value(
            &cues,
            CueEvent::Cue {
                trigger: 0,
                on: true,
            },
            1.23456,
        );
        assert_eq!(v.to_string(), r#"{"cue":"jazz","on":true,"t":1.2346}"#);
        let v = cue_value(&cues, CueEvent::TopChanged { tag: 1 }, 3.0);
        assert_eq!(v.to_string(), r#"{"top_changed":"piano","t":3.0}"#);
    }
}
