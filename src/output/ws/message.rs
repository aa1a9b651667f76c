//! The texts the server sends: scores (the `mstag-live --json` line, or a client's part of
//! it), cue events, the greeting and notices.

use serde_json::{json, Map, Value};

use crate::calibration::Scale;
use crate::output::cues::{CueEvent, Cues};
use crate::output::json::LiveLine;
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

/// `x` as the `f64` with the same shortest decimal form (`0.7`, not `0.699999988`).
fn shortest(x: f32) -> Value {
    if !x.is_finite() {
        return Value::Null;
    }
    x.to_string()
        .parse::<f64>()
        .map_or(Value::Null, |v| json!(v))
}

/// `full` (the text of [`scores_text`], parsed) cut down to `sub`: other views left out, and with a top N,
/// each view's N best tags, best first. The other keys stay as they are.
pub(crate) fn subscribed(full: &Value, n: &Names<'_>, s: &Scores, sub: Subscription) -> Value {
    let Value::Object(map) = full else {
        return full.clone();
    };
    let wanted = |v: View| sub.view.is_none_or(|w| w == v);
    let mut out = Map::with_capacity(map.len());
    for (key, value) in map {
        if let Some(v) = View::ALL.into_iter().find(|v| v.name() == key) {
            if !wanted(v) {
                continue;
            }
            match sub.top {
                Some(k) => {
                    let scores = s.view(v);
                    let best: Map<String, Value> = top_k(scores, k as usize)
                        .into_iter()
                        .map(|i| {
                            let name = n.tags.get(i).cloned().unwrap_or_else(|| format!("tag{i}"));
                            (name, shortest(scores[i]))
                        })
                        .collect();
                    out.insert(key.clone(), Value::Object(best));
                }
                None => {
                    out.insert(key.clone(), value.clone());
                }
            }
        } else if key == "heads" {
            let Value::Object(views) = value else {
                continue;
            };
            let kept: Map<String, Value> = views
                .iter()
                .filter(|(k, _)| View::ALL.into_iter().any(|v| v.name() == *k && wanted(v)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.insert(key.clone(), Value::Object(kept));
        } else {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
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
    /// Input devices a client may switch to (empty: none, e.g. a file is playing).
    pub devices: Vec<String>,
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
        "devices": g.devices,
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
        assert_eq!(
            text,
            LiveLine::new(&tags, &s, false)
                .with_scale(Scale::Calibrated)
                .to_json()
        );
        let full: Value = serde_json::from_str(&text).unwrap();
        let sub = Subscription {
            view: Some(View::Window),
            top: Some(2),
        };
        let cut = subscribed(&full, &n, &s, sub);
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
        assert!(
            cut.to_string()
                .contains(r#""window":{"piano":0.7,"jazz":0.5}"#),
            "{cut}"
        );
        // All views, top 1 each.
        let cut = subscribed(
            &full,
            &n,
            &s,
            Subscription {
                view: None,
                top: Some(1),
            },
        );
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
