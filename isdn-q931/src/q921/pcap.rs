//! Writing LAPD frames to a pcap file that Wireshark and tshark decode.
//!
//! Classic pcap format (not pcapng), little endian, microsecond timestamps,
//! snaplen 65535, link type 177 (`LINKTYPE_LINUX_LAPD`). Each record starts
//! with the 16-octet pseudo-header of that link type, laid out like Linux
//! "cooked" capture (SLL), all fields big endian:
//!
//! | octets | field | value written |
//! | --- | --- | --- |
//! | 0–1 | packet type | 0 (received by us) or 4 (sent by us) |
//! | 2–3 | ARPHRD type | 0 |
//! | 4–5 | link-layer address length | 0 |
//! | 6–13 | link-layer address | octet 6: 1 if we are the network side, else 0; rest 0 |
//! | 14–15 | protocol | 0x0030 (`ETH_P_LAPD`); other values make the file unreadable |
//!
//! Wireshark uses the direction and the network-side flag to tell which end
//! sent a frame, and with that whether its C/R bit means command or
//! response. The frame follows without flags and FCS.

use std::io::{self, Write};
use std::time::Duration;

use super::Role;

/// `LINKTYPE_LINUX_LAPD`.
pub const LINKTYPE_LINUX_LAPD: u32 = 177;
/// Largest record written; longer frames are truncated (LAPD frames are
/// far shorter).
pub const SNAPLEN: u32 = 65535;
/// Length of the per-record pseudo-header.
pub const PSEUDO_HEADER_LEN: usize = 16;
/// `ETH_P_LAPD`, the protocol field of the pseudo-header.
const ETH_P_LAPD: u16 = 0x0030;
/// Packet types of the pseudo-header (as Linux `PACKET_HOST`,
/// `PACKET_OUTGOING`).
const PACKET_HOST: u16 = 0;
const PACKET_OUTGOING: u16 = 4;

/// Which way a frame went, seen from the capturing side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received from the peer.
    Received,
    /// Sent by us.
    Sent,
}

/// Writes a pcap stream of one data link's frames, seen from one side.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    we_network: bool,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the pcap file header. `role` is the side whose frames are
    /// captured: it decides the network-side flag of every record.
    pub fn new(mut out: W, role: Role) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs: 0.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_LINUX_LAPD.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out, we_network: role == Role::Network })
    }

    /// Writes one frame (address, control, information; no flags, no FCS).
    /// `timestamp` is the time since the Unix epoch (the caller owns the
    /// clock).
    pub fn write_frame(&mut self, timestamp: Duration, direction: Direction, frame: &[u8]) -> io::Result<()> {
        let mut pseudo = [0u8; PSEUDO_HEADER_LEN];
        let packet_type = match direction {
            Direction::Received => PACKET_HOST,
            Direction::Sent => PACKET_OUTGOING,
        };
        pseudo[0..2].copy_from_slice(&packet_type.to_be_bytes());
        pseudo[6] = u8::from(self.we_network);
        pseudo[14..16].copy_from_slice(&ETH_P_LAPD.to_be_bytes());

        let orig_len = PSEUDO_HEADER_LEN + frame.len();
        let incl_len = orig_len.min(SNAPLEN as usize);
        let mut record = [0u8; 16];
        // Seconds wrap in 2106, as in every classic pcap file.
        record[0..4].copy_from_slice(&(timestamp.as_secs() as u32).to_le_bytes());
        record[4..8].copy_from_slice(&timestamp.subsec_micros().to_le_bytes());
        record[8..12].copy_from_slice(&(incl_len as u32).to_le_bytes());
        record[12..16].copy_from_slice(&u32::try_from(orig_len).unwrap_or(u32::MAX).to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(&pseudo)?;
        self.out.write_all(&frame[..incl_len - PSEUDO_HEADER_LEN])
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Gives back the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_header_is_classic_little_endian_linux_lapd() {
        let w = PcapWriter::new(Vec::new(), Role::User).unwrap();
        assert_eq!(w.into_inner(), [0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 177, 0, 0, 0]);
    }

    #[test]
    fn record_carries_direction_network_flag_and_eth_p_lapd() {
        let mut w = PcapWriter::new(Vec::new(), Role::Network).unwrap();
        w.write_frame(Duration::new(1_700_000_000, 250_000_000), Direction::Sent, &[0x02, 0x01, 0x7F]).unwrap();
        let bytes = w.into_inner();
        let rec = &bytes[24..];
        assert_eq!(rec[0..4], 1_700_000_000u32.to_le_bytes());
        assert_eq!(rec[4..8], 250_000u32.to_le_bytes());
        assert_eq!(rec[8..12], 19u32.to_le_bytes());
        assert_eq!(rec[12..16], 19u32.to_le_bytes());
        assert_eq!(rec[16..32], [0, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x30]);
        assert_eq!(rec[32..], [0x02, 0x01, 0x7F]);
    }

    #[test]
    fn received_frame_on_user_side_has_type_0_and_flag_0() {
        let mut w = PcapWriter::new(Vec::new(), Role::User).unwrap();
        w.write_frame(Duration::ZERO, Direction::Received, &[0x02, 0x01, 0x7F]).unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes[24 + 16..24 + 18], [0, 0]);
        assert_eq!(bytes[24 + 16 + 6], 0);
    }
}
