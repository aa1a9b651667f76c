//! Open Sound Control output for lighting and visual software (QLC+, TouchDesigner, Resolume).
//!
//! An [`OscSender`] runs its own thread. At a fixed rate (`--osc-rate`, default 30 Hz),
//! decoupled from the model's update rate, it reads the latest published [`Scores`] through
//! [`Latest::get`] (between model updates the last values are sent again), optionally smooths
//! them (one-pole low-pass, `--osc-smooth`), and sends to every receiver:
//!
//! | address | arguments |
//! |---|---|
//! | `<prefix>/window` | `s`: which aggregate is sent (`session`, `window` or `ema`) |
//! | `<prefix>/top` | `s f`: the top tag's name (as in the manifest) and its score |
//! | `<prefix>/tags` | `f…`: every score, in manifest order |
//! | `<prefix>/tag/<tag>` | `f`: one score in 0..1, one address per tag |
//!
//! `<tag>` is the tag name made into a valid OSC address part by [`sanitize_tag`]
//! ("no vocals" → `no_vocals`). Messages go out in bundles with the "immediately" time tag,
//! split so that every UDP packet is smaller than [`MAX_PACKET_BYTES`], or, with
//! [`Framing::Plain`], one message per packet. Nothing is sent before the engine has published
//! its first scores.
//!
//! Sending never blocks: each receiver has its own non-blocking UDP socket, bound to an
//! ephemeral port and connected to the receiver (so that the ICMP "port unreachable" of a
//! receiver that is not running comes back as `ECONNREFUSED` on that receiver's socket). Send
//! errors are counted per receiver and reported once per outage through the log hook
//! ([`OscEvent::Unreachable`]), and once more when the receiver is back ([`OscEvent::Back`]);
//! sending itself goes on regardless.
//!
//! The building blocks ([`sanitize_tag`], [`OscMessages`], [`split_bundles`],
//! [`PacketWriter`], [`Smoother`]) are pure and reuse their buffers, so the sender thread does
//! not allocate per packet once it runs.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use rosc::{OscMessage, OscPacket, OscTime, OscType};

use crate::engine::{Latest, Scores, View, MAX_TAGS};
use crate::error::{Error, Result};

/// Every UDP packet sent is strictly smaller than this many bytes (a common safe payload size
/// on Ethernet and Wi-Fi, so packets are never fragmented).
pub const MAX_PACKET_BYTES: usize = 1400;
/// Default address prefix.
pub const DEFAULT_PREFIX: &str = "/mstag";
/// Default send rate, packets rounds per second.
pub const DEFAULT_RATE_HZ: u32 = 30;
/// Highest send rate accepted.
pub const MAX_RATE_HZ: u32 = 120;
/// Longest smoothing time constant accepted, seconds.
pub const MAX_SMOOTH_S: f64 = 3600.0;
/// Longest address prefix accepted, bytes.
pub const MAX_PREFIX_LEN: usize = 256;

/// The OSC time tag meaning "immediately" (`0x00000000_00000001`).
pub const IMMEDIATELY: OscTime = OscTime {
    seconds: 0,
    fractional: 1,
};

/// `#bundle\0` and the 8-byte time tag.
const BUNDLE_HEADER_BYTES: usize = 16;
/// Each bundle element is preceded by its size as a big-endian `u32`.
const ELEMENT_SIZE_BYTES: usize = 4;

/// How long a receiver that was unreachable must take packets without a single send error
/// before it is reported back (ICMP errors may arrive only every other packet, or be
/// rate-limited by the network stack, so one clean packet proves nothing).
const RECOVERY_TIME: Duration = Duration::from_secs(2);
/// ... and for at least this many consecutive send rounds.
const RECOVERY_ROUNDS: u32 = 3;

const TARGET_FORM: &str = "expected HOST:PORT, e.g. 127.0.0.1:7700, localhost:7000 or [::1]:9000";

// ---------------------------------------------------------------------------------------------
// Configuration

/// How messages are put into UDP packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Bundles with the "immediately" time tag, as few as fit under [`MAX_PACKET_BYTES`] each.
    Bundles,
    /// Every message in its own packet (for receivers that do not understand bundles).
    Plain,
}

/// One receiver: the address as the user wrote it and what it resolved to at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OscTarget {
    /// As given (`--osc` argument), for messages.
    pub spec: String,
    pub addr: SocketAddr,
}

impl OscTarget {
    /// Parses and resolves `HOST:PORT` (`localhost:7000`, `192.168.1.20:7700`, `[::1]:9000`,
    /// `mixer.local:8000`). Host names are resolved now; when a name has IPv4 and IPv6
    /// addresses, the first IPv4 one is taken (most OSC receivers listen on IPv4 only).
    ///
    /// Errors are [`Error::InvalidSetting`] naming `--osc`, the value and the expected form.
    pub fn parse(spec: &str) -> Result<OscTarget> {
        let bad = |reason: String| Error::InvalidSetting {
            name: "--osc",
            value: spec.to_string(),
            reason: format!("{reason}; {TARGET_FORM}"),
        };
        let s = spec.trim();
        let (host, port, bracketed) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("'[' without a closing ']'".into()))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| bad("no port after the bracketed IPv6 address".into()))?;
            (host, port, true)
        } else {
            let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no port".into()))?;
            if host.contains(':') {
                return Err(bad("an IPv6 address must be written in brackets".into()));
            }
            (host, port, false)
        };
        if host.is_empty() {
            return Err(bad("no host".into()));
        }
        if port.is_empty() {
            return Err(bad("no port".into()));
        }
        let port: u32 = port
            .parse()
            .map_err(|_| bad(format!("port {port:?} is not a number")))?;
        if port == 0 || port > u16::MAX as u32 {
            return Err(bad(format!("port {port} is out of range (1 to 65535)")));
        }
        let port = port as u16;
        let addr = if bracketed {
            let ip: Ipv6Addr = host
                .parse()
                .map_err(|_| bad(format!("{host:?} is not an IPv6 address")))?;
            SocketAddr::new(IpAddr::V6(ip), port)
        } else {
            let addrs: Vec<SocketAddr> = (host, port)
                .to_socket_addrs()
                .map_err(|e| bad(format!("cannot resolve host {host:?}: {e}")))?
                .collect();
            addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or_else(|| addrs.first())
                .copied()
                .ok_or_else(|| bad(format!("host {host:?} has no address")))?
        };
        Ok(OscTarget {
            spec: s.to_string(),
            addr,
        })
    }
}

impl fmt::Display for OscTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.spec == self.addr.to_string() {
            write!(f, "{}", self.spec)
        } else {
            write!(f, "{} ({})", self.spec, self.addr)
        }
    }
}

/// Everything the sender needs besides the tag names and the score source.
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
    pub framing: Framing,
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
        }
    }

    /// Checks every setting, naming the command-line option in the error.
    pub fn validate(&self) -> Result<()> {
        if self.targets.is_empty() {
            return Err(Error::InvalidSetting {
                name: "--osc",
                value: String::new(),
                reason: format!("no receiver given; {TARGET_FORM}"),
            });
        }
        normalize_prefix(&self.prefix)?;
        if !(1..=MAX_RATE_HZ).contains(&self.rate_hz) {
            return Err(Error::InvalidSetting {
                name: "--osc-rate",
                value: self.rate_hz.to_string(),
                reason: format!("must be 1 to {MAX_RATE_HZ} messages per second"),
            });
        }
        if !(self.smooth_s.is_finite() && (0.0..=MAX_SMOOTH_S).contains(&self.smooth_s)) {
            return Err(Error::InvalidSetting {
                name: "--osc-smooth",
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
/// addresses.
pub fn normalize_prefix(prefix: &str) -> Result<String> {
    let bad = |reason: &str| Error::InvalidSetting {
        name: "--osc-prefix",
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

// ---------------------------------------------------------------------------------------------
// Pure message building

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
/// Order: `/window`, `/top`, `/tags`, then `/tag/<tag>` in manifest order.
#[derive(Debug, Clone)]
pub struct OscMessages {
    packets: Vec<OscPacket>,
    names: Vec<String>,
}

const WINDOW_MSG: usize = 0;
const TOP_MSG: usize = 1;
const TAGS_MSG: usize = 2;
const FIRST_TAG_MSG: usize = 3;

impl OscMessages {
    /// Builds the messages for `tags` (manifest order) under `prefix` (validated with
    /// [`normalize_prefix`]). Fails if a single message could not fit in a packet smaller than
    /// [`MAX_PACKET_BYTES`] (an absurdly long prefix or tag name).
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

    /// Sets every argument from `values` (one per tag, manifest order; missing ones are sent
    /// as 0) and the view's name. Values are sent as they are; see [`clamp_unit`].
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
        for (i, p) in self.packets[FIRST_TAG_MSG..].iter_mut().enumerate() {
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
        self.packets[FIRST_TAG_MSG..]
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

/// Groups consecutive messages of the given encoded sizes into bundles, greedily, so that each
/// bundle (16-byte header, and a 4-byte size before each message) is smaller than
/// `max_packet` bytes. Writes the message index ranges of the bundles into `out` (cleared
/// first). Fails if one message alone cannot fit.
pub fn split_bundles(
    sizes: &[usize],
    max_packet: usize,
    out: &mut Vec<Range<usize>>,
) -> Result<()> {
    out.clear();
    let mut start = 0;
    let mut len = BUNDLE_HEADER_BYTES;
    for (i, &size) in sizes.iter().enumerate() {
        let element = ELEMENT_SIZE_BYTES + size;
        if BUNDLE_HEADER_BYTES + element >= max_packet {
            return Err(too_big(i, size, max_packet));
        }
        if len + element >= max_packet {
            out.push(start..i);
            start = i;
            len = BUNDLE_HEADER_BYTES;
        }
        len += element;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    Ok(())
}

fn too_big(index: usize, size: usize, max_packet: usize) -> Error {
    Error::Output {
        what: "OSC".into(),
        reason: format!(
            "message {index} is {size} bytes and cannot be sent in a packet smaller than \
             {max_packet} bytes; use a shorter --osc-prefix"
        ),
    }
}

/// Encodes a round of messages into UDP packets, reusing its buffers from round to round.
#[derive(Debug, Default)]
pub struct PacketWriter {
    /// Every message encoded, back to back.
    msg: Vec<u8>,
    msg_sizes: Vec<usize>,
    ranges: Vec<Range<usize>>,
    /// Every packet, back to back, and where each ends.
    out: Vec<u8>,
    out_ends: Vec<usize>,
}

impl PacketWriter {
    pub fn new() -> PacketWriter {
        PacketWriter::default()
    }

    /// Encodes `messages` into packets (bundles or one per message), each smaller than
    /// [`MAX_PACKET_BYTES`]; returns the number of packets.
    pub fn write(&mut self, messages: &[OscPacket], framing: Framing) -> Result<usize> {
        self.write_limited(messages, framing, MAX_PACKET_BYTES)
    }

    /// [`PacketWriter::write`] with another packet size limit (for tests).
    pub fn write_limited(
        &mut self,
        messages: &[OscPacket],
        framing: Framing,
        max_packet: usize,
    ) -> Result<usize> {
        self.msg.clear();
        self.msg_sizes.clear();
        self.out.clear();
        self.out_ends.clear();
        for m in messages {
            let n = match rosc::encoder::encode_into(m, &mut self.msg) {
                Ok(n) => n,
                Err(never) => match never {},
            };
            self.msg_sizes.push(n);
        }
        match framing {
            Framing::Plain => {
                for (i, &size) in self.msg_sizes.iter().enumerate() {
                    if size >= max_packet {
                        return Err(too_big(i, size, max_packet));
                    }
                }
                self.out.extend_from_slice(&self.msg);
                let mut end = 0;
                for &size in &self.msg_sizes {
                    end += size;
                    self.out_ends.push(end);
                }
            }
            Framing::Bundles => {
                split_bundles(&self.msg_sizes, max_packet, &mut self.ranges)?;
                let mut offsets_start = 0;
                for r in &self.ranges {
                    self.out.extend_from_slice(b"#bundle\0");
                    self.out
                        .extend_from_slice(&IMMEDIATELY.seconds.to_be_bytes());
                    self.out
                        .extend_from_slice(&IMMEDIATELY.fractional.to_be_bytes());
                    for &size in &self.msg_sizes[r.clone()] {
                        self.out.extend_from_slice(&(size as u32).to_be_bytes());
                        self.out
                            .extend_from_slice(&self.msg[offsets_start..offsets_start + size]);
                        offsets_start += size;
                    }
                    self.out_ends.push(self.out.len());
                }
            }
        }
        Ok(self.out_ends.len())
    }

    /// The packets of the last [`PacketWriter::write`].
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.out_ends.iter().map(move |&end| {
            let p = &self.out[start..end];
            start = end;
            p
        })
    }
}

/// A score made safe to send: not-a-number becomes 0, everything is clamped to 0..1.
pub fn clamp_unit(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// One-pole low-pass over the sent values: `y += a (x - y)` once per send round, with
/// `a = 1 - exp(-1 / (rate · tau))`, so `tau` is the time constant in seconds. With `tau = 0`
/// the values pass through unchanged. The first values seen are taken as they are.
#[derive(Debug, Clone)]
pub struct Smoother {
    alpha: f32,
    state: [f32; MAX_TAGS],
    primed: bool,
}

impl Smoother {
    pub fn new(tau_s: f64, rate_hz: u32) -> Smoother {
        let alpha = if tau_s > 0.0 && rate_hz > 0 {
            (1.0 - (-1.0 / (rate_hz as f64 * tau_s)).exp()) as f32
        } else {
            1.0
        };
        Smoother {
            alpha,
            state: [0.0; MAX_TAGS],
            primed: false,
        }
    }

    /// The per-round coefficient `a` (1 = off).
    pub fn alpha(&self) -> f32 {
        self.alpha
    }

    /// Smooths `values` in place (at most [`MAX_TAGS`] of them).
    pub fn apply(&mut self, values: &mut [f32]) {
        let n = values.len().min(MAX_TAGS);
        if self.alpha >= 1.0 {
            return;
        }
        if !self.primed {
            self.state[..n].copy_from_slice(&values[..n]);
            self.primed = true;
            return;
        }
        for (y, x) in self.state[..n].iter_mut().zip(values[..n].iter_mut()) {
            *y += self.alpha * (*x - *y);
            *x = *y;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The sender thread

/// What the sender reports through its log hook (at most once per change of state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OscEvent {
    /// Sending to a receiver failed (refused, would block, …); it is still tried every round.
    Unreachable { receiver: String, error: String },
    /// A receiver that was unreachable has taken packets without error for a while.
    Back { receiver: String, failed_sends: u64 },
    /// A round could not be encoded (should not happen: sizes are checked at start).
    Failed { reason: String },
}

impl fmt::Display for OscEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OscEvent::Unreachable { receiver, error } => write!(
                f,
                "OSC receiver {receiver} unreachable ({error}); still sending, failures are counted"
            ),
            OscEvent::Back {
                receiver,
                failed_sends,
            } => write!(
                f,
                "OSC receiver {receiver} back ({failed_sends} failed sends so far)"
            ),
            OscEvent::Failed { reason } => write!(f, "OSC: {reason}"),
        }
    }
}

/// The hook that receives [`OscEvent`]s, on the sender thread.
pub type OscLog = Box<dyn FnMut(&OscEvent) + Send>;

/// Where the sender reads scores from each round (for the engine: [`Latest::get`]).
pub type ScoreSource = Box<dyn FnMut() -> Scores + Send>;

/// Counters of one receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverStats {
    /// As given on the command line.
    pub receiver: String,
    pub addr: SocketAddr,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// Packets that could not be sent (refused, would block, any other error).
    pub send_errors: u64,
    /// False while the receiver is considered unreachable.
    pub reachable: bool,
}

/// What the sender has done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OscStats {
    /// Send rounds (the thread's wake-ups), including those before the first scores.
    pub rounds: u64,
    /// Packets sent, over all receivers.
    pub packets_sent: u64,
    /// Bytes sent (UDP payload), over all receivers.
    pub bytes_sent: u64,
    /// Failed sends, over all receivers.
    pub send_errors: u64,
    pub receivers: Vec<ReceiverStats>,
}

impl fmt::Display for OscStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OSC: {} packets ({} bytes) to {} receiver(s), {} send errors",
            self.packets_sent,
            self.bytes_sent,
            self.receivers.len(),
            self.send_errors
        )
    }
}

#[derive(Debug, Default)]
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    down: AtomicBool,
}

struct Shared {
    rounds: AtomicU64,
    receivers: Vec<(OscTarget, Counters)>,
}

impl Shared {
    fn snapshot(&self) -> OscStats {
        let receivers: Vec<ReceiverStats> = self
            .receivers
            .iter()
            .map(|(t, c)| ReceiverStats {
                receiver: t.spec.clone(),
                addr: t.addr,
                packets_sent: c.packets.load(Ordering::Relaxed),
                bytes_sent: c.bytes.load(Ordering::Relaxed),
                send_errors: c.errors.load(Ordering::Relaxed),
                reachable: !c.down.load(Ordering::Relaxed),
            })
            .collect();
        OscStats {
            rounds: self.rounds.load(Ordering::Relaxed),
            packets_sent: receivers.iter().map(|r| r.packets_sent).sum(),
            bytes_sent: receivers.iter().map(|r| r.bytes_sent).sum(),
            send_errors: receivers.iter().map(|r| r.send_errors).sum(),
            receivers,
        }
    }
}

/// A running OSC sender thread. [`OscSender::stop`] or dropping it stops and joins the thread.
pub struct OscSender {
    thread: Option<JoinHandle<()>>,
    stop: Option<Sender<()>>,
    shared: Arc<Shared>,
}

impl OscSender {
    /// Starts sending the scores published by an engine (`engine.latest()`); `tags` are the
    /// manifest's tag names.
    pub fn start(
        cfg: OscConfig,
        tags: &[String],
        latest: Latest,
        log: OscLog,
    ) -> Result<OscSender> {
        Self::start_with_source(cfg, tags, Box::new(move || latest.get()), log)
    }

    /// Like [`OscSender::start`], with any source of scores (the plugin, tests). Scores with
    /// `seq == 0` (nothing published yet) are not sent.
    pub fn start_with_source(
        cfg: OscConfig,
        tags: &[String],
        source: ScoreSource,
        log: OscLog,
    ) -> Result<OscSender> {
        cfg.validate()?;
        let messages = OscMessages::new(&cfg.prefix, tags)?;
        let mut sockets = Vec::with_capacity(cfg.targets.len());
        for t in &cfg.targets {
            sockets.push(open_socket(t)?);
        }
        let shared = Arc::new(Shared {
            rounds: AtomicU64::new(0),
            receivers: cfg
                .targets
                .iter()
                .map(|t| (t.clone(), Counters::default()))
                .collect(),
        });
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let worker = Worker {
            period: Duration::from_secs_f64(1.0 / cfg.rate_hz as f64),
            view: cfg.view,
            framing: cfg.framing,
            smoother: Smoother::new(cfg.smooth_s, cfg.rate_hz),
            messages,
            writer: PacketWriter::new(),
            receivers: sockets.into_iter().map(ReceiverState::new).collect(),
            shared: shared.clone(),
            source,
            log,
        };
        let thread = std::thread::Builder::new()
            .name("mstag-osc".into())
            .spawn(move || worker.run(stop_rx))
            .map_err(|e| Error::Output {
                what: "OSC".into(),
                reason: format!("cannot start the sender thread: {e}"),
            })?;
        Ok(OscSender {
            thread: Some(thread),
            stop: Some(stop_tx),
            shared,
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> OscStats {
        self.shared.snapshot()
    }

    /// Stops the thread, waits for it, and returns the final counters.
    pub fn stop(mut self) -> OscStats {
        self.stop_and_join();
        self.shared.snapshot()
    }

    fn stop_and_join(&mut self) {
        // Dropping the only sender disconnects the channel, which wakes the thread at once.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for OscSender {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn open_socket(t: &OscTarget) -> Result<UdpSocket> {
    let err = |what: &str, e: io::Error| Error::Output {
        what: format!("OSC receiver {}", t.spec),
        reason: format!("{what}: {e}"),
    };
    let local = if t.addr.is_ipv4() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    };
    let socket = UdpSocket::bind(local).map_err(|e| err("cannot open a UDP socket", e))?;
    if t.addr.is_ipv4() {
        // Lighting networks often use a broadcast address; harmless for unicast.
        let _ = socket.set_broadcast(true);
    }
    socket
        .connect(t.addr)
        .map_err(|e| err("cannot address the receiver", e))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| err("cannot make the socket non-blocking", e))?;
    Ok(socket)
}

struct ReceiverState {
    socket: UdpSocket,
    down: bool,
    clean_since: Option<Instant>,
    clean_rounds: u32,
}

impl ReceiverState {
    fn new(socket: UdpSocket) -> ReceiverState {
        ReceiverState {
            socket,
            down: false,
            clean_since: None,
            clean_rounds: 0,
        }
    }
}

struct Worker {
    period: Duration,
    view: View,
    framing: Framing,
    smoother: Smoother,
    messages: OscMessages,
    writer: PacketWriter,
    receivers: Vec<ReceiverState>,
    shared: Arc<Shared>,
    source: ScoreSource,
    log: OscLog,
}

impl Worker {
    fn run(mut self, stop: crossbeam_channel::Receiver<()>) {
        let mut next = Instant::now();
        let mut values = [0.0f32; MAX_TAGS];
        let mut encode_failed = false;
        loop {
            let scores = (self.source)();
            if scores.seq > 0 {
                let n = self.messages.n_tags();
                let v = scores.view(self.view);
                for (i, x) in values[..n].iter_mut().enumerate() {
                    *x = clamp_unit(v.get(i).copied().unwrap_or(0.0));
                }
                self.smoother.apply(&mut values[..n]);
                self.messages.set(&values[..n], self.view);
                match self.writer.write(self.messages.messages(), self.framing) {
                    Ok(_) => self.send_round(),
                    Err(e) => {
                        if !encode_failed {
                            (self.log)(&OscEvent::Failed {
                                reason: e.to_string(),
                            });
                            encode_failed = true;
                        }
                    }
                }
            }
            self.shared.rounds.fetch_add(1, Ordering::Relaxed);
            next += self.period;
            let now = Instant::now();
            if now > next + self.period {
                // Far behind (the machine stalled): skip the missed rounds instead of bursting.
                next = now;
            }
            match stop.recv_deadline(next) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    fn send_round(&mut self) {
        let now = Instant::now();
        for (r, (target, counters)) in self.receivers.iter_mut().zip(&self.shared.receivers) {
            let mut first_error: Option<io::Error> = None;
            let (mut packets, mut bytes, mut errors) = (0u64, 0u64, 0u64);
            for p in self.writer.packets() {
                match r.socket.send(p) {
                    Ok(n) => {
                        packets += 1;
                        bytes += n as u64;
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            counters.packets.fetch_add(packets, Ordering::Relaxed);
            counters.bytes.fetch_add(bytes, Ordering::Relaxed);
            counters.errors.fetch_add(errors, Ordering::Relaxed);
            match first_error {
                Some(e) => {
                    r.clean_since = None;
                    r.clean_rounds = 0;
                    if !r.down {
                        r.down = true;
                        counters.down.store(true, Ordering::Relaxed);
                        (self.log)(&OscEvent::Unreachable {
                            receiver: target.to_string(),
                            error: e.to_string(),
                        });
                    }
                }
                None if r.down => {
                    r.clean_rounds += 1;
                    let since = *r.clean_since.get_or_insert(now);
                    if r.clean_rounds >= RECOVERY_ROUNDS && now - since >= RECOVERY_TIME {
                        r.down = false;
                        r.clean_since = None;
                        r.clean_rounds = 0;
                        counters.down.store(false, Ordering::Relaxed);
                        (self.log)(&OscEvent::Back {
                            receiver: target.to_string(),
                            failed_sends: counters.errors.load(Ordering::Relaxed),
                        });
                    }
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosc::decoder::decode_udp;

    fn tags(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Every message of a packet, flattened out of (nested) bundles, with the bundles' time tags.
    fn flatten(p: OscPacket, msgs: &mut Vec<OscMessage>, times: &mut Vec<OscTime>) {
        match p {
            OscPacket::Message(m) => msgs.push(m),
            OscPacket::Bundle(b) => {
                times.push(b.timetag);
                for c in b.content {
                    flatten(c, msgs, times);
                }
            }
        }
    }

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

    #[test]
    fn prefixes() {
        assert_eq!(normalize_prefix("/mstag").unwrap(), "/mstag");
        assert_eq!(normalize_prefix("/mstag/").unwrap(), "/mstag");
        assert_eq!(normalize_prefix("/show/tags").unwrap(), "/show/tags");
        assert_eq!(normalize_prefix("/").unwrap(), "");
        for bad in ["", "mstag", "/a b", "//x", "/a//b", "/a#", "/a*"] {
            let e = normalize_prefix(bad).unwrap_err().to_string();
            assert!(e.contains("--osc-prefix"), "{bad:?}: {e}");
        }
        let long = format!("/{}", "a".repeat(300));
        assert!(normalize_prefix(&long).is_err());
        let m = OscMessages::new("/", &tags(&["guitar"])).unwrap();
        let addrs: Vec<String> = m
            .messages()
            .iter()
            .map(|p| match p {
                OscPacket::Message(m) => m.addr.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(addrs, ["/window", "/top", "/tags", "/tag/guitar"]);
    }

    #[test]
    fn targets_parse_and_resolve() {
        let t = OscTarget::parse("127.0.0.1:7700").unwrap();
        assert_eq!(t.addr, "127.0.0.1:7700".parse().unwrap());
        let t = OscTarget::parse("[::1]:9000").unwrap();
        assert_eq!(t.addr, "[::1]:9000".parse().unwrap());
        let t = OscTarget::parse("localhost:7000").unwrap();
        assert!(t.addr.ip().is_loopback());
        assert_eq!(t.addr.port(), 7000);
        assert!(t.addr.is_ipv4(), "IPv4 preferred for names: {}", t.addr);
        for (bad, why) in [
            ("localhost", "no port"),
            ("localhost:", "no port"),
            (":9000", "no host"),
            ("127.0.0.1:0", "out of range"),
            ("127.0.0.1:65536", "out of range"),
            ("127.0.0.1:99999999999", "not a number"),
            ("127.0.0.1:x", "not a number"),
            ("::1:9000", "brackets"),
            ("[::1]", "no port"),
            ("[::1:9000", "closing"),
            ("[localhost]:9000", "not an IPv6"),
            ("no-such-host.invalid:9000", "cannot resolve"),
            ("", "no port"),
        ] {
            let e = OscTarget::parse(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidSetting { name: "--osc", .. }));
            let e = e.to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
            assert!(e.contains("HOST:PORT"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn config_validation_names_the_option() {
        let t = OscTarget::parse("127.0.0.1:9").unwrap();
        let mut c = OscConfig::new(vec![t]);
        assert!(c.validate().is_ok());
        c.rate_hz = 0;
        assert!(c.validate().unwrap_err().to_string().contains("--osc-rate"));
        c.rate_hz = 121;
        assert!(c.validate().is_err());
        c.rate_hz = 120;
        c.smooth_s = -1.0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--osc-smooth"));
        c.smooth_s = f64::NAN;
        assert!(c.validate().is_err());
        c.smooth_s = 0.5;
        c.prefix = "nope".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--osc-prefix"));
        c.prefix = "/ok".into();
        c.targets.clear();
        assert!(c.validate().unwrap_err().to_string().contains("--osc"));
    }

    #[test]
    fn messages_carry_values_top_and_view() {
        let names = tags(&["guitar", "no vocals", "techno"]);
        let mut m = OscMessages::new("/mstag", &names).unwrap();
        m.set(&[0.25, 0.75, 0.5], View::Ema);
        let msgs: Vec<&OscMessage> = m
            .messages()
            .iter()
            .map(|p| match p {
                OscPacket::Message(m) => m,
                _ => unreachable!(),
            })
            .collect();
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
    }

    #[test]
    fn split_respects_the_limit() {
        let mut r = Vec::new();
        split_bundles(&[], 100, &mut r).unwrap();
        assert!(r.is_empty());
        // 16 + (4 + 20) * 3 = 88 < 100; a 4th would make 112.
        split_bundles(&[20; 7], 100, &mut r).unwrap();
        assert_eq!(r, [0..3, 3..6, 6..7]);
        // Exactly at the limit is not under it: 16 + 4 + 80 = 100.
        assert!(split_bundles(&[80], 100, &mut r).is_err());
        split_bundles(&[76], 100, &mut r).unwrap();
        assert_eq!((r.len(), r[0].clone()), (1, 0..1));
    }

    /// 50 long tag names: several bundles, each under 1,400 bytes, immediate time tags, every
    /// message exactly once and in order.
    #[test]
    fn fifty_long_tags_split_into_small_bundles() {
        let names: Vec<String> = (0..50)
            .map(|i| {
                format!(
                    "a rather long tag name number {i} with spaces {}",
                    "x".repeat(60)
                )
            })
            .collect();
        let mut m = OscMessages::new("/mstag", &names).unwrap();
        let values: Vec<f32> = (0..50).map(|i| i as f32 / 49.0).collect();
        m.set(&values, View::Window);
        let mut w = PacketWriter::new();
        let n = w.write(m.messages(), Framing::Bundles).unwrap();
        assert!(n >= 4, "{n} packets");
        let mut msgs = Vec::new();
        let mut times = Vec::new();
        for p in w.packets() {
            assert!(p.len() < MAX_PACKET_BYTES, "packet of {} bytes", p.len());
            assert_eq!(p.len() % 4, 0);
            let (rest, packet) = decode_udp(p).unwrap();
            assert!(rest.is_empty());
            assert!(matches!(packet, OscPacket::Bundle(_)));
            flatten(packet, &mut msgs, &mut times);
        }
        assert_eq!(times.len(), n);
        assert!(times.iter().all(|t| *t == IMMEDIATELY));
        let expected: Vec<OscMessage> = m
            .messages()
            .iter()
            .map(|p| match p {
                OscPacket::Message(m) => m.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(msgs, expected);
        assert_eq!(msgs.len(), 53);
        assert_eq!(
            msgs[3].addr,
            format!(
                "/mstag/tag/a_rather_long_tag_name_number_0_with_spaces_{}",
                "x".repeat(60)
            )
        );
        assert_eq!(msgs[52].args, [OscType::Float(1.0)]);

        // Plain: one message per packet.
        let n = w.write(m.messages(), Framing::Plain).unwrap();
        assert_eq!(n, 53);
        let plain: Vec<OscMessage> = w
            .packets()
            .map(|p| match decode_udp(p).unwrap().1 {
                OscPacket::Message(m) => m,
                _ => panic!("plain mode sent a bundle"),
            })
            .collect();
        assert_eq!(plain, expected);

        // A tighter limit: more bundles, still all under it.
        let n2 = w
            .write_limited(m.messages(), Framing::Bundles, 300)
            .unwrap();
        assert!(n2 > n / 10);
        assert!(w.packets().all(|p| p.len() < 300));
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
        assert!(OscMessages::new("/mstag", &[]).is_err());
    }

    #[test]
    fn buffers_are_reused() {
        let names: Vec<String> = (0..50).map(|i| format!("tag {i}")).collect();
        let mut m = OscMessages::new("/mstag", &names).unwrap();
        let mut w = PacketWriter::new();
        m.set(&[1.0; 50], View::Session);
        w.write(m.messages(), Framing::Bundles).unwrap();
        let caps = (w.msg.capacity(), w.out.capacity());
        for k in 0..100 {
            let v = [k as f32 / 100.0; 50];
            m.set(&v, [View::Session, View::Window, View::Ema][k % 3]);
            w.write(m.messages(), Framing::Bundles).unwrap();
        }
        assert_eq!((w.msg.capacity(), w.out.capacity()), caps);
    }

    #[test]
    fn clamp_and_smooth() {
        assert_eq!(clamp_unit(f32::NAN), 0.0);
        assert_eq!(clamp_unit(-0.5), 0.0);
        assert_eq!(clamp_unit(1.5), 1.0);
        assert_eq!(clamp_unit(f32::INFINITY), 1.0);
        assert_eq!(clamp_unit(0.3), 0.3);

        // Off: exact pass-through.
        let mut s = Smoother::new(0.0, 30);
        let mut v = [0.1f32, 0.3];
        s.apply(&mut v);
        let mut v = [0.3f32, 0.1];
        s.apply(&mut v);
        assert_eq!(v, [0.3, 0.1]);

        // On: a step reaches 1 - 1/e after tau seconds of rounds.
        let mut s = Smoother::new(0.5, 30);
        assert!((s.alpha() - (1.0 - (-1.0f32 / 15.0).exp())).abs() < 1e-6);
        let mut v = [0.0f32];
        s.apply(&mut v);
        for _ in 0..15 {
            v[0] = 1.0;
            s.apply(&mut v);
        }
        assert!((v[0] - (1.0 - (-1.0f32).exp())).abs() < 1e-3, "{}", v[0]);
    }

    #[test]
    fn events_read_well() {
        let e = OscEvent::Unreachable {
            receiver: "127.0.0.1:9000".into(),
            error: "Connection refused".into(),
        };
        assert!(e.to_string().contains("127.0.0.1:9000 unreachable"));
        let e = OscEvent::Back {
            receiver: "localhost:9000 (127.0.0.1:9000)".into(),
            failed_sends: 3,
        };
        assert!(e.to_string().contains("back"));
    }

    /// The thread in-process against a local socket: values arrive, stop joins promptly.
    #[test]
    fn sender_thread_sends_and_stops() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let target = OscTarget::parse(&rx.local_addr().unwrap().to_string()).unwrap();
        let mut cfg = OscConfig::new(vec![target]);
        cfg.rate_hz = 100;
        let names = tags(&["guitar", "no vocals"]);
        let mut scores = Scores {
            n_tags: 2,
            seq: 1,
            ..Scores::default()
        };
        scores.window[0] = 0.125;
        scores.window[1] = 0.625;
        let sender = OscSender::start_with_source(
            cfg,
            &names,
            Box::new(move || scores),
            Box::new(|e| panic!("unexpected event {e}")),
        )
        .unwrap();
        let mut buf = [0u8; 2048];
        let n = rx.recv(&mut buf).unwrap();
        let mut msgs = Vec::new();
        flatten(decode_udp(&buf[..n]).unwrap().1, &mut msgs, &mut Vec::new());
        let find = |a: &str| msgs.iter().find(|m| m.addr == a).unwrap().args.clone();
        assert_eq!(find("/mstag/tag/no_vocals"), [OscType::Float(0.625)]);
        assert_eq!(find("/mstag/window"), [OscType::String("window".into())]);
        let t0 = Instant::now();
        let stats = sender.stop();
        assert!(t0.elapsed() < Duration::from_millis(200));
        assert!(stats.packets_sent >= 1);
        assert_eq!(stats.receivers[0].send_errors, 0);
        assert!(stats.bytes_sent >= n as u64);
    }

    /// IPv6 receivers work the same (skipped where the machine has no IPv6 loopback).
    #[test]
    fn ipv6_receiver() {
        let Ok(rx) = UdpSocket::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback here: IPv6 send test skipped");
            return;
        };
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let port = rx.local_addr().unwrap().port();
        let target = OscTarget::parse(&format!("[::1]:{port}")).unwrap();
        let names = tags(&["guitar"]);
        let scores = Scores {
            n_tags: 1,
            seq: 1,
            ..Scores::default()
        };
        let sender = OscSender::start_with_source(
            OscConfig::new(vec![target]),
            &names,
            Box::new(move || scores),
            Box::new(|_| {}),
        )
        .unwrap();
        let mut buf = [0u8; 2048];
        let n = rx.recv(&mut buf).unwrap();
        let mut msgs = Vec::new();
        flatten(decode_udp(&buf[..n]).unwrap().1, &mut msgs, &mut Vec::new());
        assert!(msgs.iter().any(|m| m.addr == "/mstag/tag/guitar"));
        assert_eq!(sender.stop().send_errors, 0);
    }
}
