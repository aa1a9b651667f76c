//! Encoding a round of messages into UDP packets: bundles under a size limit, or one message
//! per packet.

use std::ops::Range;

use rosc::OscPacket;

use crate::error::{Error, Result};

use super::{Framing, IMMEDIATELY, MAX_PACKET_BYTES};

/// `#bundle\0` and the 8-byte time tag.
const BUNDLE_HEADER_BYTES: usize = 16;
/// Each bundle element is preceded by its size as a big-endian `u32`.
const ELEMENT_SIZE_BYTES: usize = 4;

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
             {max_packet} bytes; use a shorter prefix"
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
    /// A writer with empty buffers (they grow on the first round, then are reused).
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

#[cfg(test)]
mod tests {
    use rosc::decoder::decode_udp;
    use rosc::{OscMessage, OscType};

    use super::super::test_support::{flatten, message_list};
    use super::super::OscMessages;
    use super::*;
    use crate::engine::View;

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
        let expected = message_list(&m);
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
    fn a_message_too_big_for_a_plain_packet_is_refused() {
        let m = OscMessages::new("/mstag", &["x".repeat(200)]).unwrap();
        let e = PacketWriter::new()
            .write_limited(m.messages(), Framing::Plain, 100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("smaller than 100 bytes"), "{e}");
        assert!(e.contains("use a shorter prefix"), "{e}");
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
}
