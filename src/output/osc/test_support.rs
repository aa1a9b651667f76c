//! Helpers shared by the unit tests of this module.

use rosc::{OscMessage, OscPacket, OscTime};

use super::OscMessages;

/// Owned tag names.
pub(super) fn tags(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Every message of a packet, flattened out of (nested) bundles, with the bundles' time tags.
pub(super) fn flatten(p: OscPacket, msgs: &mut Vec<OscMessage>, times: &mut Vec<OscTime>) {
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

/// The messages of a round, in sending order (they are never bundles).
pub(super) fn message_list(m: &OscMessages) -> Vec<OscMessage> {
    m.messages()
        .iter()
        .map(|p| match p {
            OscPacket::Message(m) => m.clone(),
            OscPacket::Bundle(_) => panic!("OscMessages holds a bundle"),
        })
        .collect()
}
