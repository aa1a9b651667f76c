//! The messages of a send round: addresses made from the tag names, and their arguments.

use rosc::{OscMessage, OscPacket, OscType};

use crate::engine::{HeadLabels, View, MAX_HEAD_LABELS, MAX_TAGS};
use crate::error::{Error, Result};

use super::{normalize_prefix, Framing, PacketWriter};

/// Makes a tag name into a valid, portable OSC address part: lower case, ASCII letters,
/// digits, `-` and `_` only; every run of other characters (spaces, `/`, punctuation,
/// non-ASCII) becomes a single `_`, and leading or trailing `_` are dropped.
/// "no vocals" → `no_vocals`, "Hard Rock" → `hard_rock`, "rock/pop" → `rock_pop`.
/// A name with nothing left becomes `tag`.
pub fn sanitize_tag(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        // '_' counts as a separator, so that "a _ b", "a__b" and "a b" all give "a_b".
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        out.push_str("tag");
    }
    out
}

/// The address part of every tag, in manifest order: [`sanitize_tag`], and where two tags
/// end up with the same part, `_2`, `_3`, … appended to the later ones.
pub fn tag_address_parts(tags: &[String]) -> Vec<String> {
    let mut parts: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let base = sanitize_tag(tag);
        let mut part = base.clone();
        let mut k = 2;
        while parts.contains(&part) {
            part = format!("{base}_{k}");
            k += 1;
        }
        parts.push(part);
    }
    parts
}

/// The messages of one send round, built once and updated in place each round so that no
/// address or argument list is allocated again.
///
/// Order: `/window`, `/top`, `/tags`, then `/tag/<tag>` in manifest order; then for each
/// head of your own ([`OscMessages::with_heads`]) `/<head>/top` and `/<head>/<label>` in
/// label order.
#[derive(Debug, Clone)]
pub struct OscMessages {
    packets: Vec<OscPacket>,
    names: Vec<String>,
    heads: Vec<HeadLabels>,
}

/// Address parts the tags' messages use: a head may not be called so.
pub const RESERVED_PARTS: [&str; 5] = ["window", "top", "tags", "tag", "cue"];

const WINDOW_MSG: usize = 0;
const TOP_MSG: usize = 1;
const TAGS_MSG: usize = 2;
const FIRST_TAG_MSG: usize = 3;

impl OscMessages {
    /// Builds the messages for `tags` (manifest order) under `prefix` (validated with
    /// [`normalize_prefix`]). Fails if a single message could not fit in a packet smaller than
    /// [`MAX_PACKET_BYTES`](super::MAX_PACKET_BYTES) (an absurdly long prefix or tag name).
    pub fn new(prefix: &str, tags: &[String]) -> Result<OscMessages> {
        let prefix = normalize_prefix(prefix)?;
        if tags.is_empty() || tags.len() > MAX_TAGS {
            return Err(Error::Output {
                what: "OSC".into(),
                reason: format!("{} tags (1 to {MAX_TAGS} supported)", tags.len()),
            });
        }
        let msg = |addr: String, args: Vec<OscType>| OscPacket::Message(OscMessage { addr, args });
        let mut packets = Vec::with_capacity(FIRST_TAG_MSG + tags.len());
        packets.push(msg(
            format!("{prefix}/window"),
            vec![OscType::String(String::with_capacity(8))],
        ));
        let longest = tags.iter().map(String::len).max().unwrap_or(0);
        packets.push(msg(
            format!("{prefix}/top"),
            vec![
                OscType::String(String::with_capacity(longest)),
                OscType::Float(0.0),
            ],
        ));
        packets.push(msg(
            format!("{prefix}/tags"),
            vec![OscType::Float(0.0); tags.len()],
        ));
        for part in tag_address_parts(tags) {
            packets.push(msg(
                format!("{prefix}/tag/{part}"),
                vec![OscType::Float(0.0)],
            ));
        }
        let mut m = OscMessages {
            packets,
            names: tags.to_vec(),
            heads: Vec::new(),
        };
        // Check the largest possible round fits: the longest view name and tag name.
        let zeros = vec![0.0f32; tags.len()];
        let longest_at = tags
            .iter()
            .enumerate()
            .max_by_key(|(i, t)| (t.len(), usize::MAX - i))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let mut probe = zeros.clone();
        probe[longest_at] = 1.0;
        m.set(&probe, View::Session);
        PacketWriter::new().write(m.messages(), Framing::Bundles)?;
        m.set(&zeros, View::Window);
        Ok(m)
    }

    /// Adds the messages of heads of your own: `<prefix>/<head>/top s f` (the head's best
    /// label and its score) and `<prefix>/<head>/<label> f`, names made into address parts
    /// with [`sanitize_tag`].
    ///
    /// # Errors
    /// [`Error::Output`] when a head's name clashes with the tags' addresses
    /// (`RESERVED_PARTS`) or another head's, a label is called `top`, there are more than
    /// [`MAX_HEAD_LABELS`] labels, or a message would not fit in a packet.
    pub fn with_heads(mut self, heads: &[HeadLabels]) -> Result<OscMessages> {
        let refuse = |reason: String| Error::Output {
            what: "OSC".into(),
            reason,
        };
        let total: usize = heads.iter().map(|h| h.labels.len()).sum();
        if total > MAX_HEAD_LABELS {
            return Err(refuse(format!(
                "{total} head labels (at most {MAX_HEAD_LABELS})"
            )));
        }
        let prefix = self.prefix();
        let msg = |addr: String, args: Vec<OscType>| OscPacket::Message(OscMessage { addr, args });
        let mut used: Vec<String> = Vec::new();
        for h in heads {
            let part = sanitize_tag(&h.name);
            if RESERVED_PARTS.contains(&part.as_str()) || used.contains(&part) {
                return Err(refuse(format!(
                    "head {:?} would be sent as {prefix}/{part}/…, which {}; give it another name with `mstag learn --name`",
                    h.name,
                    if used.contains(&part) { "another head uses" } else { "the tags' messages use" }
                )));
            }
            let labels = tag_address_parts(&h.labels);
            if labels.iter().any(|l| l == "top") {
                return Err(refuse(format!(
                    "head {:?} has a label called \"top\", which clashes with {prefix}/{part}/top",
                    h.name
                )));
            }
            let longest = h.labels.iter().map(String::len).max().unwrap_or(0);
            self.packets.push(msg(
                format!("{prefix}/{part}/top"),
                vec![
                    OscType::String(String::with_capacity(longest)),
                    OscType::Float(0.0),
                ],
            ));
            for l in labels {
                self.packets.push(msg(
                    format!("{prefix}/{part}/{l}"),
                    vec![OscType::Float(0.0)],
                ));
            }
            used.push(part);
        }
        self.heads = heads.to_vec();
        // The largest round must still fit.
        let tags = vec![0.0; self.names.len()];
        self.set_with_heads(&tags, &vec![0.0; total], View::Session);
        PacketWriter::new().write(self.messages(), Framing::Bundles)?;
        Ok(self)
    }

    /// The prefix the messages were made with (`/mstag`; empty for `/`).
    fn prefix(&self) -> String {
        match &self.packets[WINDOW_MSG] {
            OscPacket::Message(m) => m
                .addr
                .strip_suffix("/window")
                .unwrap_or_default()
                .to_string(),
            OscPacket::Bundle(_) => String::new(),
        }
    }

    /// The heads whose messages follow the tags'.
    pub fn heads(&self) -> &[HeadLabels] {
        &self.heads
    }

    /// Like [`Self::set`], with the heads' values too (laid out as in
    /// [`crate::engine::Scores::heads`]; missing ones are sent as 0).
    pub fn set_with_heads(&mut self, values: &[f32], head_values: &[f32], view: View) {
        self.set(values, view);
        let mut k = FIRST_TAG_MSG + self.names.len();
        let mut start = 0;
        for h in &self.heads {
            let n = h.labels.len();
            let value = |i: usize| head_values.get(start + i).copied().unwrap_or(0.0);
            let best = (1..n).fold(0, |b, i| if value(i) > value(b) { i } else { b });
            if let Some(OscPacket::Message(m)) = self.packets.get_mut(k) {
                if let [OscType::String(s), OscType::Float(f)] = m.args.as_mut_slice() {
                    s.clear();
                    s.push_str(&h.labels[best]);
                    *f = value(best);
                }
            }
            for i in 0..n {
                if let Some(OscPacket::Message(m)) = self.packets.get_mut(k + 1 + i) {
                    if let Some(a) = m.args.get_mut(0) {
                        *a = OscType::Float(value(i));
                    }
                }
            }
            k += 1 + n;
            start += n;
        }
    }

    /// Sets every argument from `values` (one per tag, manifest order; missing ones are sent
    /// as 0) and the view's name. Values are sent as they are; see
    /// [`clamp_unit`](super::clamp_unit).
    pub fn set(&mut self, values: &[f32], view: View) {
        let n = self.names.len();
        let value = |i: usize| values.get(i).copied().unwrap_or(0.0);
        // Top tag: highest value, the first one on ties (manifest order).
        let mut best = 0;
        for i in 1..n {
            if value(i) > value(best) {
                best = i;
            }
        }
        if let OscPacket::Message(m) = &mut self.packets[WINDOW_MSG] {
            if let Some(OscType::String(s)) = m.args.get_mut(0) {
                s.clear();
                s.push_str(view.name());
            }
        }
        if let OscPacket::Message(m) = &mut self.packets[TOP_MSG] {
            if let [OscType::String(s), OscType::Float(f)] = m.args.as_mut_slice() {
                s.clear();
                s.push_str(&self.names[best]);
                *f = value(best);
            }
        }
        if let OscPacket::Message(m) = &mut self.packets[TAGS_MSG] {
            for (i, a) in m.args.iter_mut().enumerate() {
                *a = OscType::Float(value(i));
            }
        }
        for (i, p) in self.packets[FIRST_TAG_MSG..FIRST_TAG_MSG + n]
            .iter_mut()
            .enumerate()
        {
            if let OscPacket::Message(m) = p {
                if let Some(a) = m.args.get_mut(0) {
                    *a = OscType::Float(value(i));
                }
            }
        }
    }

    /// The messages, in sending order.
    pub fn messages(&self) -> &[OscPacket] {
        &self.packets
    }

    /// The `/tag/<tag>` addresses, in manifest order.
    pub fn tag_addresses(&self) -> impl Iterator<Item = &str> {
        self.packets[FIRST_TAG_MSG..FIRST_TAG_MSG + self.names.len()]
            .iter()
            .filter_map(|p| match p {
                OscPacket::Message(m) => Some(m.addr.as_str()),
                OscPacket::Bundle(_) => None,
            })
    }

    /// Number of tags.
    pub fn n_tags(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{message_list, tags};
    use super::*;

    #[test]
    fn sanitize_makes_valid_portable_parts() {
        assert_eq!(sanitize_tag("no vocals"), "no_vocals");
        assert_eq!(sanitize_tag("Hard Rock"), "hard_rock");
        assert_eq!(sanitize_tag("rock/pop"), "rock_pop");
        assert_eq!(sanitize_tag("  drum & bass  "), "drum_bass");
        assert_eq!(sanitize_tag("hip-hop"), "hip-hop");
        assert_eq!(sanitize_tag("80s"), "80s");
        assert_eq!(sanitize_tag("a__b"), "a_b");
        assert_eq!(sanitize_tag("_x_"), "x");
        assert_eq!(sanitize_tag("Électronique"), "lectronique");
        assert_eq!(sanitize_tag("{*?}#[,]"), "tag");
        assert_eq!(sanitize_tag(""), "tag");
        for t in [
            "no vocals",
            "a#b",
            "x*y?",
            "[a]",
            "{a,b}",
            "é",
            "\t\n",
            "a/b/c",
        ] {
            let addr = format!("/mstag/tag/{}", sanitize_tag(t));
            assert!(rosc::address::verify_address(&addr).is_ok(), "{addr}");
        }
    }

    #[test]
    fn duplicate_parts_are_numbered() {
        let parts = tag_address_parts(&tags(&["no vocals", "no_vocals", "No Vocals", "guitar"]));
        assert_eq!(parts, ["no_vocals", "no_vocals_2", "no_vocals_3", "guitar"]);
    }

    fn head(name: &str, labels: &[&str]) -> HeadLabels {
        HeadLabels {
            name: name.into(),
            labels: tags(labels),
        }
    }

    #[test]
    fn heads_follow_the_tags_with_their_top_label() {
        let heads = [
            head("Cues", &["build up", "drop"]),
            head("band", &["a", "b", "c"]),
        ];
        let mut m = OscMessages::new("/mstag", &tags(&["guitar"]))
            .unwrap()
            .with_heads(&heads)
            .unwrap();
        m.set_with_heads(&[0.5], &[0.25, 0.75, 0.1, 0.6, 0.3], View::Window);
        let msgs = message_list(&m);
        let addrs: Vec<&str> = msgs.iter().map(|m| m.addr.as_str()).collect();
        assert_eq!(
            addrs[4..],
            [
                "/mstag/cues/top",
                "/mstag/cues/build_up",
                "/mstag/cues/drop",
                "/mstag/band/top",
                "/mstag/band/a",
                "/mstag/band/b",
                "/mstag/band/c"
            ]
        );
        assert_eq!(
            msgs[4].args,
            [OscType::String("drop".into()), OscType::Float(0.75)]
        );
        assert_eq!(msgs[5].args, [OscType::Float(0.25)]);
        assert_eq!(
            msgs[7].args,
            [OscType::String("b".into()), OscType::Float(0.6)]
        );
        assert_eq!(msgs[10].args, [OscType::Float(0.3)]);
        // The tags' messages are untouched.
        assert_eq!(m.tag_addresses().collect::<Vec<_>>(), ["/mstag/tag/guitar"]);
    }

    #[test]
    fn head_names_that_clash_are_refused() {
        let base = || OscMessages::new("/mstag", &tags(&["guitar"])).unwrap();
        let e = base().with_heads(&[head("Top", &["a", "b"])]).unwrap_err();
        assert!(e.to_string().contains("/mstag/top/"), "{e}");
        let e = base()
            .with_heads(&[head("x y", &["a", "b"]), head("x_y", &["c", "d"])])
            .unwrap_err();
        assert!(e.to_string().contains("another head"), "{e}");
        let e = base().with_heads(&[head("x", &["top", "b"])]).unwrap_err();
        assert!(e.to_string().contains("\"top\""), "{e}");
    }

    #[test]
    fn the_root_prefix_means_no_prefix() {
        let m = OscMessages::new("/", &tags(&["guitar"])).unwrap();
        let addrs: Vec<String> = message_list(&m).into_iter().map(|m| m.addr).collect();
        assert_eq!(addrs, ["/window", "/top", "/tags", "/tag/guitar"]);
    }

    #[test]
    fn messages_carry_values_top_and_view() {
        let names = tags(&["guitar", "no vocals", "techno"]);
        let mut m = OscMessages::new("/mstag", &names).unwrap();
        m.set(&[0.25, 0.75, 0.5], View::Ema);
        let msgs = message_list(&m);
        assert_eq!(msgs[0].addr, "/mstag/window");
        assert_eq!(msgs[0].args, [OscType::String("ema".into())]);
        assert_eq!(msgs[1].addr, "/mstag/top");
        assert_eq!(
            msgs[1].args,
            [OscType::String("no vocals".into()), OscType::Float(0.75)]
        );
        assert_eq!(msgs[2].addr, "/mstag/tags");
        assert_eq!(
            msgs[2].args,
            [
                OscType::Float(0.25),
                OscType::Float(0.75),
                OscType::Float(0.5)
            ]
        );
        assert_eq!(msgs[3].addr, "/mstag/tag/guitar");
        assert_eq!(msgs[4].addr, "/mstag/tag/no_vocals");
        assert_eq!(msgs[4].args, [OscType::Float(0.75)]);
        assert_eq!(msgs[5].addr, "/mstag/tag/techno");
        // Ties go to the first in manifest order; missing values are 0.
        m.set(&[0.5, 0.5], View::Window);
        if let OscPacket::Message(top) = &m.messages()[1] {
            assert_eq!(top.args[0], OscType::String("guitar".into()));
        }
        if let OscPacket::Message(t) = &m.messages()[5] {
            assert_eq!(t.args, [OscType::Float(0.0)]);
        }
        assert_eq!(
            m.tag_addresses().collect::<Vec<_>>(),
            [
                "/mstag/tag/guitar",
                "/mstag/tag/no_vocals",
                "/mstag/tag/techno"
            ]
        );
        assert_eq!(m.n_tags(), 3);
    }

    #[test]
    fn the_real_tag_set_fits_in_one_or_two_packets() {
        let names: Vec<String> = (0..50).map(|i| format!("tag number {i}")).collect();
        let m = OscMessages::new("/mstag", &names).unwrap();
        let mut w = PacketWriter::new();
        assert!(w.write(m.messages(), Framing::Bundles).unwrap() <= 2);
    }

    #[test]
    fn an_impossible_message_is_refused_at_build_time() {
        let names = vec!["x".repeat(1500)];
        let e = OscMessages::new("/mstag", &names).unwrap_err().to_string();
        assert!(e.contains("1400"), "{e}");
        assert!(e.contains("use a shorter prefix"), "{e}");
        assert!(!e.contains("--osc"), "{e}");
        assert!(OscMessages::new("/mstag", &[]).is_err());
    }
}
