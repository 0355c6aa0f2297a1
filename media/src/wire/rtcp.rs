//! RTCP packets and compound packets (RFC 3550 §6.4–§6.7, Appendix A.2).
//!
//! Every RTCP packet starts with the same 4-octet header:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|  count  |      PT       |   length (32-bit words − 1)   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `count` is the report count (SR, RR), source count (SDES, BYE) or
//! subtype (APP). A UDP datagram carries a *compound* packet: several RTCP
//! packets back to back, the first an SR or RR (§6.1); only the last may be
//! padded. [`CompoundIter`] walks one, yielding a checked [`RtcpPacket`]
//! view per packet.
//!
//! SR and RR bodies (after the header):
//!
//! ```text
//! SSRC of sender                                   4   (SR and RR)
//! NTP timestamp (msw, lsw), RTP timestamp,
//! sender's packet count, sender's octet count      20  (SR only)
//! report blocks                                    24 × RC
//! profile-specific extensions                      rest
//! ```
//!
//! A report block ([`ReportBlock`], [`ReportBlockRepr`]):
//!
//! ```text
//! SSRC_n | fraction lost (8) cumulative lost (24, signed) |
//! extended highest sequence number | interarrival jitter |
//! last SR (LSR) | delay since last SR (DLSR)
//! ```
//!
//! Typed reprs ([`RtcpRepr`] and one struct per packet type) keep report
//! blocks, SDES chunks and BYE sources in `Vec`s: RTCP runs at a few
//! packets per second, and allocation is bounded by the input length.
//! Zero-copy access is on the view: [`RtcpPacket::report_block`],
//! [`RtcpPacket::sdes_chunks`], [`RtcpPacket::bye_sources`] and friends.

use super::Error;
use super::field::{self, slice, slice_mut, u8_at, u16_at, u32_at};

/// Length of the common header.
pub const HEADER_LEN: usize = 4;
/// The RTCP version (same as RTP's).
pub const VERSION: u8 = 2;
/// Length of a report block.
pub const REPORT_BLOCK_LEN: usize = 24;
/// Length of the SR sender info (NTP and RTP timestamps, counts).
pub const SENDER_INFO_LEN: usize = 20;
/// Largest value of the 5-bit count field.
pub const MAX_COUNT: usize = 31;
/// Largest RTCP packet: a length field of 0xFFFF.
pub const MAX_PACKET_LEN: usize = 4 * (u16::MAX as usize + 1);
/// Largest cumulative number of packets lost (24-bit signed).
pub const CUMULATIVE_LOST_MAX: i32 = 0x7F_FFFF;
/// Smallest cumulative number of packets lost (24-bit signed).
pub const CUMULATIVE_LOST_MIN: i32 = -0x80_0000;

enum_with_unknown! {
    /// RTCP packet types (RFC 3550 §12.1).
    pub enum RtcpPacketType {
        /// SR, sender report.
        SenderReport = 200,
        /// RR, receiver report.
        ReceiverReport = 201,
        /// SDES, source description.
        SourceDescription = 202,
        /// BYE, goodbye.
        Goodbye = 203,
        /// APP, application-defined.
        App = 204,
    }
}

enum_with_unknown! {
    /// SDES item types (RFC 3550 §6.5). Type 0 is the END marker of a
    /// chunk's item list and never an item.
    pub enum SdesItemType {
        /// Canonical end-point identifier, `user@host` (§6.5.1).
        Cname = 1,
        /// User name.
        Name = 2,
        /// Electronic mail address.
        Email = 3,
        /// Phone number.
        Phone = 4,
        /// Geographic user location.
        Loc = 5,
        /// Application or tool name.
        Tool = 6,
        /// Notice/status.
        Note = 7,
        /// Private extensions (prefix length, prefix, value; kept raw).
        Priv = 8,
    }
}

/// Rounds `n` up to a multiple of 4.
const fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// A read/write view of one RTCP packet at the start of a buffer. The
/// buffer may go on past the packet (a compound packet); accessors stop at
/// [`packet_len`](RtcpPacket::packet_len).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RtcpPacket<T> {
    /// Wraps a buffer without checking it. Accessors never panic, but
    /// return meaningless values for a buffer that fails
    /// [`check_len`](RtcpPacket::check_len).
    pub const fn new_unchecked(buffer: T) -> RtcpPacket<T> {
        RtcpPacket { buffer }
    }

    /// Wraps a buffer after checking the version (2) and
    /// [`check_len`](RtcpPacket::check_len).
    pub fn new_checked(buffer: T) -> Result<RtcpPacket<T>, Error> {
        let packet = RtcpPacket::new_unchecked(buffer);
        if !packet.buffer.as_ref().is_empty() && packet.version() != VERSION {
            return Err(Error::Version(packet.version()));
        }
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the header and the `4 × (length + 1)`
    /// octets it announces, and that padding (P bit) has a count that is a
    /// non-zero multiple of 4 (§6.4.1: "it will be a multiple of four") and
    /// at most the octets after the header, so the payload stays a whole
    /// number of words. The per-type
    /// minimum lengths (e.g. 24 octets per report block) are checked by
    /// [`RtcpRepr::parse`]; the type-specific accessors stay in bounds
    /// regardless.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.packet_len() {
            return Err(Error::Truncated);
        }
        if self.has_padding() {
            let count = usize::from(u8_at(self.buffer.as_ref(), self.packet_len() - 1));
            if count == 0 || count % 4 != 0 || count > self.packet_len() - HEADER_LEN {
                return Err(Error::Padding);
            }
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The octets of this packet (header to padding), at most the buffer.
    pub fn as_bytes(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        data.get(..self.packet_len()).unwrap_or(data)
    }

    /// Version field.
    pub fn version(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 0) >> 6
    }

    /// The P bit.
    pub fn has_padding(&self) -> bool {
        u8_at(self.buffer.as_ref(), 0) & 0x20 != 0
    }

    /// The 5-bit count field: reception report count (SR, RR), source
    /// count (SDES, BYE) or subtype (APP).
    pub fn count(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 0) & 0x1F
    }

    /// Packet type.
    pub fn packet_type(&self) -> RtcpPacketType {
        RtcpPacketType::from(u8_at(self.buffer.as_ref(), 1))
    }

    /// The length field: the packet's length in 32-bit words minus one.
    pub fn length(&self) -> u16 {
        u16_at(self.buffer.as_ref(), 2)
    }

    /// Length of the packet in octets, header and padding included.
    pub fn packet_len(&self) -> usize {
        4 * (usize::from(self.length()) + 1)
    }

    /// Octets of padding, counting the count octet (0 without P).
    pub fn padding_len(&self) -> usize {
        if self.has_padding() { usize::from(u8_at(self.buffer.as_ref(), self.packet_len() - 1)) } else { 0 }
    }

    /// End of the payload: the packet end less the padding.
    fn payload_end(&self) -> usize {
        self.packet_len().saturating_sub(self.padding_len())
    }

    /// The packet after the 4-octet header, without padding.
    pub fn payload(&self) -> &[u8] {
        slice(self.buffer.as_ref(), HEADER_LEN, self.payload_end())
    }

    /// The first word after the header: the sender's SSRC of an SR, RR or
    /// APP, the first source of a BYE or the first chunk's SSRC of an SDES.
    pub fn ssrc(&self) -> u32 {
        u32_at(self.payload(), 0)
    }

    /// SR: the NTP timestamp (64 bits, seconds since 1900 in 32.32 fixed
    /// point).
    pub fn ntp_timestamp(&self) -> u64 {
        let p = self.payload();
        u64::from(u32_at(p, 4)) << 32 | u64::from(u32_at(p, 8))
    }

    /// SR: the RTP timestamp matching the NTP timestamp.
    pub fn rtp_timestamp(&self) -> u32 {
        u32_at(self.payload(), 12)
    }

    /// SR: the sender's packet count.
    pub fn sender_packet_count(&self) -> u32 {
        u32_at(self.payload(), 16)
    }

    /// SR: the sender's octet count.
    pub fn sender_octet_count(&self) -> u32 {
        u32_at(self.payload(), 20)
    }

    /// Offset of the first report block in the payload (SR: 24, RR: 4,
    /// other types: none).
    fn report_blocks_offset(&self) -> Option<usize> {
        match self.packet_type() {
            RtcpPacketType::SenderReport => Some(4 + SENDER_INFO_LEN),
            RtcpPacketType::ReceiverReport => Some(4),
            _ => None,
        }
    }

    /// SR/RR: report block `index` (`None` for `index` ≥ RC, for other
    /// packet types, or when the block is not in the packet).
    pub fn report_block(&self, index: usize) -> Option<ReportBlock<&[u8]>> {
        if index >= usize::from(self.count()) {
            return None;
        }
        let start = self.report_blocks_offset()? + REPORT_BLOCK_LEN * index;
        let block = self.payload().get(start..start + REPORT_BLOCK_LEN)?;
        Some(ReportBlock::new_unchecked(block))
    }

    /// SR/RR: the report blocks that are in the packet.
    pub fn report_blocks(&self) -> impl Iterator<Item = ReportBlock<&[u8]>> + '_ {
        (0..usize::from(self.count())).map_while(move |i| self.report_block(i))
    }

    /// SR/RR: the profile-specific extension after the report blocks.
    pub fn report_extension(&self) -> &[u8] {
        match self.report_blocks_offset() {
            Some(off) => self.payload().get(off + REPORT_BLOCK_LEN * usize::from(self.count())..).unwrap_or(&[]),
            None => &[],
        }
    }

    /// SDES: the chunks, zero-copy.
    pub fn sdes_chunks(&self) -> SdesChunks<'_> {
        SdesChunks { data: self.payload(), pos: 0, remaining: self.count() }
    }

    /// BYE: the sources that are in the packet.
    pub fn bye_sources(&self) -> impl Iterator<Item = u32> + '_ {
        let n = usize::from(self.count());
        let p = self.payload();
        p.get(..4 * n).unwrap_or(p).chunks_exact(4).map(|c| u32_at(c, 0))
    }

    /// BYE: the reason for leaving. `Ok(None)` without one,
    /// [`Error::Truncated`] if the sources or the reason run past the
    /// packet.
    pub fn bye_reason(&self) -> Result<Option<&[u8]>, Error> {
        let p = self.payload();
        let rest = p.get(4 * usize::from(self.count())..).ok_or(Error::Truncated)?;
        match rest.split_first() {
            None => Ok(None),
            Some((&len, text)) => text.get(..usize::from(len)).map(Some).ok_or(Error::Truncated),
        }
    }

    /// APP: the 4-character name.
    pub fn app_name(&self) -> [u8; 4] {
        u32_at(self.payload(), 4).to_be_bytes()
    }

    /// APP: the application-dependent data.
    pub fn app_data(&self) -> &[u8] {
        self.payload().get(8..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RtcpPacket<T> {
    /// Writes the whole first octet: V=2, P, count (masked to 5 bits).
    pub fn set_first_octet(&mut self, padding: bool, count: u8) {
        let b = VERSION << 6 | u8::from(padding) << 5 | (count & 0x1F);
        field::set_u8(self.buffer.as_mut(), 0, b);
    }

    /// Sets the version field (masked to 2 bits).
    pub fn set_version(&mut self, version: u8) {
        let b = u8_at(self.buffer.as_ref(), 0);
        field::set_u8(self.buffer.as_mut(), 0, (b & 0x3F) | (version << 6));
    }

    /// Sets the P bit.
    pub fn set_padding(&mut self, on: bool) {
        let b = u8_at(self.buffer.as_ref(), 0);
        field::set_u8(self.buffer.as_mut(), 0, (b & !0x20) | u8::from(on) << 5);
    }

    /// Sets the count field (masked to 5 bits).
    pub fn set_count(&mut self, count: u8) {
        let b = u8_at(self.buffer.as_ref(), 0);
        field::set_u8(self.buffer.as_mut(), 0, (b & 0xE0) | (count & 0x1F));
    }

    /// Sets the packet type.
    pub fn set_packet_type(&mut self, pt: RtcpPacketType) {
        field::set_u8(self.buffer.as_mut(), 1, pt.into());
    }

    /// Sets the length field (words − 1).
    pub fn set_length(&mut self, length: u16) {
        field::set_u16(self.buffer.as_mut(), 2, length);
    }

    /// Sets the first word after the header (see [`ssrc`](RtcpPacket::ssrc)).
    pub fn set_ssrc(&mut self, ssrc: u32) {
        field::set_u32(self.buffer.as_mut(), HEADER_LEN, ssrc);
    }

    /// SR: sets the NTP timestamp.
    pub fn set_ntp_timestamp(&mut self, ntp: u64) {
        field::set_u32(self.buffer.as_mut(), HEADER_LEN + 4, (ntp >> 32) as u32);
        field::set_u32(self.buffer.as_mut(), HEADER_LEN + 8, ntp as u32);
    }

    /// SR: sets the RTP timestamp.
    pub fn set_rtp_timestamp(&mut self, ts: u32) {
        field::set_u32(self.buffer.as_mut(), HEADER_LEN + 12, ts);
    }

    /// SR: sets the sender's packet count.
    pub fn set_sender_packet_count(&mut self, n: u32) {
        field::set_u32(self.buffer.as_mut(), HEADER_LEN + 16, n);
    }

    /// SR: sets the sender's octet count.
    pub fn set_sender_octet_count(&mut self, n: u32) {
        field::set_u32(self.buffer.as_mut(), HEADER_LEN + 20, n);
    }

    /// The payload (after the header, before padding), mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.payload_end();
        slice_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }

    /// SR/RR: report block `index`, mutable (`None` as for
    /// [`report_block`](RtcpPacket::report_block)).
    pub fn report_block_mut(&mut self, index: usize) -> Option<ReportBlock<&mut [u8]>> {
        if index >= usize::from(self.count()) {
            return None;
        }
        let start = self.report_blocks_offset()? + REPORT_BLOCK_LEN * index;
        let block = self.payload_mut().get_mut(start..start + REPORT_BLOCK_LEN)?;
        Some(ReportBlock::new_unchecked(block))
    }
}

/// A read/write view of a 24-octet report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ReportBlock<T> {
    /// Wraps a buffer without checking it (accessors read zeros past its
    /// end).
    pub const fn new_unchecked(buffer: T) -> ReportBlock<T> {
        ReportBlock { buffer }
    }

    /// Wraps a buffer of at least 24 octets.
    pub fn new_checked(buffer: T) -> Result<ReportBlock<T>, Error> {
        if buffer.as_ref().len() < REPORT_BLOCK_LEN {
            return Err(Error::Truncated);
        }
        Ok(ReportBlock { buffer })
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// SSRC of the source reported on.
    pub fn ssrc(&self) -> u32 {
        u32_at(self.buffer.as_ref(), 0)
    }

    /// Fraction of packets lost since the previous report, in 1/256.
    pub fn fraction_lost(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 4)
    }

    /// Cumulative number of packets lost (24-bit signed: duplicates can
    /// make it negative).
    pub fn cumulative_lost(&self) -> i32 {
        let d = self.buffer.as_ref();
        // Sign-extend the 24-bit field through the top of an i32.
        i32::from_be_bytes([u8_at(d, 5), u8_at(d, 6), u8_at(d, 7), 0]) >> 8
    }

    /// Extended highest sequence number received (cycles << 16 | seq).
    pub fn extended_highest_seq(&self) -> u32 {
        u32_at(self.buffer.as_ref(), 8)
    }

    /// Interarrival jitter, in timestamp units.
    pub fn jitter(&self) -> u32 {
        u32_at(self.buffer.as_ref(), 12)
    }

    /// Last SR timestamp (middle 32 bits of its NTP timestamp).
    pub fn last_sr(&self) -> u32 {
        u32_at(self.buffer.as_ref(), 16)
    }

    /// Delay since last SR, in 1/65536 s.
    pub fn delay_since_last_sr(&self) -> u32 {
        u32_at(self.buffer.as_ref(), 20)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ReportBlock<T> {
    /// Sets the SSRC.
    pub fn set_ssrc(&mut self, v: u32) {
        field::set_u32(self.buffer.as_mut(), 0, v);
    }

    /// Sets the fraction lost.
    pub fn set_fraction_lost(&mut self, v: u8) {
        field::set_u8(self.buffer.as_mut(), 4, v);
    }

    /// Sets the cumulative number lost, clamped to the 24-bit signed range
    /// (as RFC 3550 Appendix A.3 does).
    pub fn set_cumulative_lost(&mut self, v: i32) {
        let v = v.clamp(CUMULATIVE_LOST_MIN, CUMULATIVE_LOST_MAX);
        let [_, a, b, c] = v.to_be_bytes();
        for (i, x) in [a, b, c].into_iter().enumerate() {
            field::set_u8(self.buffer.as_mut(), 5 + i, x);
        }
    }

    /// Sets the extended highest sequence number.
    pub fn set_extended_highest_seq(&mut self, v: u32) {
        field::set_u32(self.buffer.as_mut(), 8, v);
    }

    /// Sets the jitter.
    pub fn set_jitter(&mut self, v: u32) {
        field::set_u32(self.buffer.as_mut(), 12, v);
    }

    /// Sets LSR.
    pub fn set_last_sr(&mut self, v: u32) {
        field::set_u32(self.buffer.as_mut(), 16, v);
    }

    /// Sets DLSR.
    pub fn set_delay_since_last_sr(&mut self, v: u32) {
        field::set_u32(self.buffer.as_mut(), 20, v);
    }
}

/// A report block's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReportBlockRepr {
    /// SSRC of the source reported on.
    pub ssrc: u32,
    /// Fraction lost, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost; emitted clamped to
    /// [`CUMULATIVE_LOST_MIN`]..=[`CUMULATIVE_LOST_MAX`].
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter.
    pub jitter: u32,
    /// Last SR timestamp (LSR).
    pub last_sr: u32,
    /// Delay since last SR (DLSR), 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlockRepr {
    /// Reads a report block.
    pub fn parse<T: AsRef<[u8]>>(block: &ReportBlock<T>) -> Result<ReportBlockRepr, Error> {
        if block.buffer.as_ref().len() < REPORT_BLOCK_LEN {
            return Err(Error::Truncated);
        }
        Ok(ReportBlockRepr {
            ssrc: block.ssrc(),
            fraction_lost: block.fraction_lost(),
            cumulative_lost: block.cumulative_lost(),
            extended_highest_seq: block.extended_highest_seq(),
            jitter: block.jitter(),
            last_sr: block.last_sr(),
            delay_since_last_sr: block.delay_since_last_sr(),
        })
    }

    /// 24.
    pub const fn buffer_len(&self) -> usize {
        REPORT_BLOCK_LEN
    }

    /// Writes the block (cumulative lost clamped).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, block: &mut ReportBlock<T>) -> Result<(), Error> {
        if block.buffer.as_ref().len() < REPORT_BLOCK_LEN {
            return Err(Error::BufferTooSmall);
        }
        block.set_ssrc(self.ssrc);
        block.set_fraction_lost(self.fraction_lost);
        block.set_cumulative_lost(self.cumulative_lost);
        block.set_extended_highest_seq(self.extended_highest_seq);
        block.set_jitter(self.jitter);
        block.set_last_sr(self.last_sr);
        block.set_delay_since_last_sr(self.delay_since_last_sr);
        Ok(())
    }
}

/// The sender info of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SenderInfo {
    /// NTP timestamp (32.32 fixed point seconds since 1900).
    pub ntp_timestamp: u64,
    /// RTP timestamp of the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
}

/// One SDES item: a type and its value (at most 255 octets; CNAME and the
/// other text items are UTF-8 by the RFC, but kept as octets here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SdesItem<'a> {
    /// Item type; `Unknown(0)` is not allowed (0 ends the list).
    pub item_type: SdesItemType,
    /// The value.
    pub value: &'a [u8],
}

/// A zero-copy SDES chunk: the SSRC/CSRC and its (validated) items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunkRef<'a> {
    /// SSRC or CSRC the items describe.
    pub ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunkRef<'a> {
    /// The items, in order.
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems { data: self.items }
    }

    /// The first CNAME item's value.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items().find(|i| i.item_type == SdesItemType::Cname).map(|i| i.value)
    }
}

/// Iterator over the items of an [`SdesChunkRef`].
#[derive(Debug, Clone)]
pub struct SdesItems<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;
    fn next(&mut self) -> Option<SdesItem<'a>> {
        let (&t, rest) = self.data.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let value = rest.get(..usize::from(len))?;
        self.data = rest.get(usize::from(len)..).unwrap_or(&[]);
        Some(SdesItem { item_type: SdesItemType::from(t), value })
    }
}

/// Iterator over the chunks of an SDES packet, validating each; after an
/// error it ends. Octets after the last counted chunk are ignored.
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    data: &'a [u8],
    pos: usize,
    remaining: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = Result<SdesChunkRef<'a>, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let result = self.chunk();
        if result.is_err() {
            self.remaining = 0;
        }
        Some(result)
    }
}

impl<'a> SdesChunks<'a> {
    fn chunk(&mut self) -> Result<SdesChunkRef<'a>, Error> {
        let data = self.data;
        let start = self.pos;
        let ssrc_bytes = data.get(start..start + 4).ok_or(Error::Truncated)?;
        let items_start = start + 4;
        let mut pos = items_start;
        loop {
            match data.get(pos) {
                None => return Err(Error::Truncated),
                Some(0) => break,
                Some(_) => {
                    let len = usize::from(*data.get(pos + 1).ok_or(Error::Truncated)?);
                    pos += 2 + len;
                    if pos > data.len() {
                        return Err(Error::Truncated);
                    }
                }
            }
        }
        let items = slice(data, items_start, pos);
        // Skip the null octet(s) up to the next 32-bit boundary (lenient
        // where padding removal left the packet unaligned).
        self.pos = pad4(pos + 1).min(data.len());
        Ok(SdesChunkRef { ssrc: u32_at(ssrc_bytes, 0), items })
    }
}

/// An SR.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SenderReportRepr<'a> {
    /// SSRC of the sender.
    pub ssrc: u32,
    /// NTP/RTP timestamps and counts.
    pub sender_info: SenderInfo,
    /// Report blocks (at most 31).
    pub reports: Vec<ReportBlockRepr>,
    /// Profile-specific extension (a whole number of words).
    pub extension: &'a [u8],
}

/// An RR.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ReceiverReportRepr<'a> {
    /// SSRC of the packet's sender.
    pub ssrc: u32,
    /// Report blocks (at most 31).
    pub reports: Vec<ReportBlockRepr>,
    /// Profile-specific extension (a whole number of words).
    pub extension: &'a [u8],
}

/// An SDES chunk with its items.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SdesChunk<'a> {
    /// SSRC or CSRC described.
    pub ssrc: u32,
    /// Items, in order (the END marker is implicit).
    pub items: Vec<SdesItem<'a>>,
}

impl<'a> SdesChunk<'a> {
    /// A chunk with just a CNAME.
    pub fn cname(ssrc: u32, cname: &'a [u8]) -> SdesChunk<'a> {
        SdesChunk { ssrc, items: vec![SdesItem { item_type: SdesItemType::Cname, value: cname }] }
    }

    /// The first CNAME item's value.
    pub fn find_cname(&self) -> Option<&'a [u8]> {
        self.items.iter().find(|i| i.item_type == SdesItemType::Cname).map(|i| i.value)
    }

    /// Octets on the wire: SSRC, items, END and null padding to a word.
    fn wire_len(&self) -> usize {
        let items = self.items.iter().fold(0usize, |n, i| n.saturating_add(2).saturating_add(i.value.len()));
        pad4(items.saturating_add(5).min(usize::MAX - 3))
    }
}

/// An SDES packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SdesRepr<'a> {
    /// Chunks (at most 31).
    pub chunks: Vec<SdesChunk<'a>>,
}

/// A BYE packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ByeRepr<'a> {
    /// Sources leaving (at most 31).
    pub sources: Vec<u32>,
    /// Reason for leaving (at most 255 octets).
    pub reason: Option<&'a [u8]>,
}

/// An APP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AppRepr<'a> {
    /// Subtype (5 bits).
    pub subtype: u8,
    /// SSRC/CSRC of the sender.
    pub ssrc: u32,
    /// Four ASCII characters naming the application.
    pub name: [u8; 4],
    /// Application data (a whole number of words).
    pub data: &'a [u8],
}

/// Any RTCP packet, typed where RFC 3550 defines it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RtcpRepr<'a> {
    /// SR.
    SenderReport(SenderReportRepr<'a>),
    /// RR.
    ReceiverReport(ReceiverReportRepr<'a>),
    /// SDES.
    SourceDescription(SdesRepr<'a>),
    /// BYE.
    Goodbye(ByeRepr<'a>),
    /// APP.
    App(AppRepr<'a>),
    /// Any other packet type (RTPFB, PSFB, XR, ...), kept raw. `packet_type`
    /// should not be one of 200–204: those parse as the typed variants.
    Unknown {
        /// Packet type.
        packet_type: u8,
        /// The 5-bit count field.
        count: u8,
        /// Everything after the header, without padding.
        payload: &'a [u8],
    },
}

fn parse_blocks(payload: &[u8], offset: usize, count: u8) -> Result<(Vec<ReportBlockRepr>, &[u8]), Error> {
    let end = offset + REPORT_BLOCK_LEN * usize::from(count);
    let blocks = payload.get(offset..end).ok_or(Error::Truncated)?;
    let reports = blocks.chunks_exact(REPORT_BLOCK_LEN).map(|b| ReportBlockRepr::parse(&ReportBlock::new_unchecked(b))).collect::<Result<Vec<_>, _>>()?;
    Ok((reports, payload.get(end..).unwrap_or(&[])))
}

impl<'a> RtcpRepr<'a> {
    /// Parses one packet (checked or not: this validates it again).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &RtcpPacket<&'a T>) -> Result<RtcpRepr<'a>, Error> {
        let buffer: &'a T = packet.buffer;
        let packet = RtcpPacket::new_checked(buffer.as_ref())?;
        let payload: &'a [u8] = slice(packet.buffer, HEADER_LEN, packet.payload_end());
        let count = packet.count();
        Ok(match packet.packet_type() {
            RtcpPacketType::SenderReport => {
                if payload.len() < 4 + SENDER_INFO_LEN {
                    return Err(Error::Truncated);
                }
                let (reports, extension) = parse_blocks(payload, 4 + SENDER_INFO_LEN, count)?;
                RtcpRepr::SenderReport(SenderReportRepr {
                    ssrc: packet.ssrc(),
                    sender_info: SenderInfo {
                        ntp_timestamp: packet.ntp_timestamp(),
                        rtp_timestamp: packet.rtp_timestamp(),
                        packet_count: packet.sender_packet_count(),
                        octet_count: packet.sender_octet_count(),
                    },
                    reports,
                    extension,
                })
            }
            RtcpPacketType::ReceiverReport => {
                if payload.len() < 4 {
                    return Err(Error::Truncated);
                }
                let (reports, extension) = parse_blocks(payload, 4, count)?;
                RtcpRepr::ReceiverReport(ReceiverReportRepr { ssrc: packet.ssrc(), reports, extension })
            }
            RtcpPacketType::SourceDescription => {
                let chunks = SdesChunks { data: payload, pos: 0, remaining: count };
                let chunks = chunks.map(|c| c.map(|c| SdesChunk { ssrc: c.ssrc, items: c.items().collect() })).collect::<Result<Vec<_>, _>>()?;
                RtcpRepr::SourceDescription(SdesRepr { chunks })
            }
            RtcpPacketType::Goodbye => {
                let n = 4 * usize::from(count);
                let sources = payload.get(..n).ok_or(Error::Truncated)?;
                let reason = match payload.get(n..).unwrap_or(&[]).split_first() {
                    None => None,
                    Some((&len, text)) => Some(text.get(..usize::from(len)).ok_or(Error::Truncated)?),
                };
                RtcpRepr::Goodbye(ByeRepr { sources: sources.chunks_exact(4).map(|c| u32_at(c, 0)).collect(), reason })
            }
            RtcpPacketType::App => {
                if payload.len() < 8 {
                    return Err(Error::Truncated);
                }
                RtcpRepr::App(AppRepr {
                    subtype: count,
                    ssrc: u32_at(payload, 0),
                    name: u32_at(payload, 4).to_be_bytes(),
                    data: payload.get(8..).unwrap_or(&[]),
                })
            }
            RtcpPacketType::Unknown(packet_type) => RtcpRepr::Unknown { packet_type, count, payload },
        })
    }

    /// Parses the first packet of untrusted octets (the rest is ignored).
    pub fn parse_bytes(data: &'a [u8]) -> Result<RtcpRepr<'a>, Error> {
        RtcpRepr::parse(&RtcpPacket::new_checked(data)?)
    }

    /// The packet type this repr emits.
    pub fn packet_type(&self) -> RtcpPacketType {
        match self {
            RtcpRepr::SenderReport(_) => RtcpPacketType::SenderReport,
            RtcpRepr::ReceiverReport(_) => RtcpPacketType::ReceiverReport,
            RtcpRepr::SourceDescription(_) => RtcpPacketType::SourceDescription,
            RtcpRepr::Goodbye(_) => RtcpPacketType::Goodbye,
            RtcpRepr::App(_) => RtcpPacketType::App,
            RtcpRepr::Unknown { packet_type, .. } => RtcpPacketType::from(*packet_type),
        }
    }

    /// Length of the emitted packet (header included, no padding).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.payload_len())
    }

    fn payload_len(&self) -> usize {
        match self {
            RtcpRepr::SenderReport(sr) => 4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * sr.reports.len() + sr.extension.len(),
            RtcpRepr::ReceiverReport(rr) => 4 + REPORT_BLOCK_LEN * rr.reports.len() + rr.extension.len(),
            RtcpRepr::SourceDescription(sdes) => sdes.chunks.iter().fold(0usize, |n, c| n.saturating_add(c.wire_len())),
            RtcpRepr::Goodbye(bye) => 4 * bye.sources.len() + bye.reason.map_or(0, |r| pad4(1 + r.len())),
            RtcpRepr::App(app) => 8 + app.data.len(),
            RtcpRepr::Unknown { payload, .. } => payload.len(),
        }
    }

    /// The count field, or [`Error::FieldRange`] when a list is too long
    /// or a field does not fit.
    fn count(&self) -> Result<u8, Error> {
        let n = match self {
            RtcpRepr::SenderReport(sr) => sr.reports.len(),
            RtcpRepr::ReceiverReport(rr) => rr.reports.len(),
            RtcpRepr::SourceDescription(sdes) => sdes.chunks.len(),
            RtcpRepr::Goodbye(bye) => bye.sources.len(),
            RtcpRepr::App(app) => usize::from(app.subtype),
            RtcpRepr::Unknown { count, .. } => usize::from(*count),
        };
        u8::try_from(n).ok().filter(|&n| usize::from(n) <= MAX_COUNT).ok_or(Error::FieldRange)
    }

    /// Checks what [`count`](Self::count) does not: word alignment of raw
    /// data, SDES items, BYE reason length, total length.
    fn check_fields(&self) -> Result<(), Error> {
        let aligned = |d: &[u8]| d.len() % 4 == 0;
        let ok = match self {
            RtcpRepr::SenderReport(SenderReportRepr { extension, .. }) | RtcpRepr::ReceiverReport(ReceiverReportRepr { extension, .. }) => aligned(extension),
            RtcpRepr::SourceDescription(sdes) => sdes.chunks.iter().all(|c| c.items.iter().all(|i| u8::from(i.item_type) != 0 && i.value.len() <= 255)),
            RtcpRepr::Goodbye(bye) => bye.reason.is_none_or(|r| r.len() <= 255),
            RtcpRepr::App(app) => aligned(app.data),
            RtcpRepr::Unknown { payload, .. } => aligned(payload),
        };
        if ok && self.buffer_len() <= MAX_PACKET_LEN { Ok(()) } else { Err(Error::FieldRange) }
    }

    /// Writes the packet at the start of `packet`'s buffer (no padding).
    ///
    /// Errors: [`Error::BufferTooSmall`]; [`Error::FieldRange`] for more
    /// than 31 report blocks/chunks/sources, an APP subtype above 31, raw
    /// data that is not a whole number of words, an SDES item of type 0 or
    /// over 255 octets, a BYE reason over 255 octets, or a packet over
    /// [`MAX_PACKET_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut RtcpPacket<T>) -> Result<(), Error> {
        let count = self.count()?;
        self.check_fields()?;
        let len = self.buffer_len();
        if packet.buffer.as_ref().len() < len {
            return Err(Error::BufferTooSmall);
        }
        packet.set_first_octet(false, count);
        packet.set_packet_type(self.packet_type());
        // len ≤ MAX_PACKET_LEN and a multiple of 4, so this fits.
        packet.set_length((len / 4 - 1) as u16);
        let buf = slice_mut(packet.buffer.as_mut(), HEADER_LEN, len);
        match self {
            RtcpRepr::SenderReport(sr) => {
                field::set_u32(buf, 0, sr.ssrc);
                let si = &sr.sender_info;
                field::set_u32(buf, 4, (si.ntp_timestamp >> 32) as u32);
                field::set_u32(buf, 8, si.ntp_timestamp as u32);
                field::set_u32(buf, 12, si.rtp_timestamp);
                field::set_u32(buf, 16, si.packet_count);
                field::set_u32(buf, 20, si.octet_count);
                emit_blocks(buf, 4 + SENDER_INFO_LEN, &sr.reports, sr.extension)
            }
            RtcpRepr::ReceiverReport(rr) => {
                field::set_u32(buf, 0, rr.ssrc);
                emit_blocks(buf, 4, &rr.reports, rr.extension)
            }
            RtcpRepr::SourceDescription(sdes) => {
                let mut pos = 0;
                for chunk in &sdes.chunks {
                    let end = pos + chunk.wire_len();
                    let out = slice_mut(buf, pos, end);
                    out.fill(0);
                    field::set_u32(out, 0, chunk.ssrc);
                    let mut at = 4;
                    for item in &chunk.items {
                        field::set_u8(out, at, item.item_type.into());
                        field::set_u8(out, at + 1, item.value.len() as u8);
                        field::copy(out, at + 2, item.value);
                        at += 2 + item.value.len();
                    }
                    pos = end;
                }
            }
            RtcpRepr::Goodbye(bye) => {
                for (i, &s) in bye.sources.iter().enumerate() {
                    field::set_u32(buf, 4 * i, s);
                }
                if let Some(reason) = bye.reason {
                    let at = 4 * bye.sources.len();
                    let out = slice_mut(buf, at, at + pad4(1 + reason.len()));
                    out.fill(0);
                    field::set_u8(out, 0, reason.len() as u8);
                    field::copy(out, 1, reason);
                }
            }
            RtcpRepr::App(app) => {
                field::set_u32(buf, 0, app.ssrc);
                field::copy(buf, 4, &app.name);
                field::copy(buf, 8, app.data);
            }
            RtcpRepr::Unknown { payload, .. } => {
                field::copy(buf, 0, payload);
            }
        }
        Ok(())
    }

    /// The packet as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut RtcpPacket::new_unchecked(&mut buf[..]))?;
        Ok(buf)
    }
}

fn emit_blocks(buf: &mut [u8], offset: usize, reports: &[ReportBlockRepr], extension: &[u8]) {
    let mut at = offset;
    for report in reports {
        let mut block = ReportBlock::new_unchecked(slice_mut(buf, at, at + REPORT_BLOCK_LEN));
        // Cannot fail: the caller checked the buffer length.
        let _ = report.emit(&mut block);
        at += REPORT_BLOCK_LEN;
    }
    field::copy(buf, at, extension);
}

/// Iterator over the packets of a compound RTCP datagram. Yields a checked
/// view of exactly each packet's octets; on the first error (truncation,
/// version, bad padding, padding on a packet that is not the last) it
/// yields that error and ends.
///
/// It does not insist that the first packet be an SR or RR, so it also
/// reads reduced-size RTCP (RFC 5506); [`check_compound`] and
/// [`CompoundRepr::parse`] do.
#[derive(Debug, Clone)]
pub struct CompoundIter<'a> {
    data: &'a [u8],
}

impl<'a> CompoundIter<'a> {
    /// Walks `data`, one UDP datagram.
    pub const fn new(data: &'a [u8]) -> CompoundIter<'a> {
        CompoundIter { data }
    }
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<RtcpPacket<&'a [u8]>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let result = (|| {
            let packet = RtcpPacket::new_checked(self.data)?;
            let len = packet.packet_len();
            let (this, rest) = self.data.split_at_checked(len).ok_or(Error::Truncated)?;
            if packet.has_padding() && !rest.is_empty() {
                return Err(Error::Padding);
            }
            self.data = rest;
            Ok(RtcpPacket::new_unchecked(this))
        })();
        if result.is_err() {
            self.data = &[];
        }
        Some(result)
    }
}

impl core::iter::FusedIterator for CompoundIter<'_> {}

/// RFC 3550 Appendix A.2's validity checks on a compound packet: every
/// packet well-formed as [`CompoundIter`] checks, and the first one an SR
/// or RR without padding. An empty datagram is [`Error::Truncated`].
pub fn check_compound(data: &[u8]) -> Result<(), Error> {
    let mut iter = CompoundIter::new(data);
    let first = iter.next().ok_or(Error::Truncated)??;
    if !matches!(first.packet_type(), RtcpPacketType::SenderReport | RtcpPacketType::ReceiverReport) {
        return Err(Error::Malformed);
    }
    if first.has_padding() && first.packet_len() != data.len() {
        return Err(Error::Padding);
    }
    for packet in iter {
        packet?;
    }
    Ok(())
}

/// A compound packet: what [`check_compound`] accepts, every packet parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CompoundRepr<'a> {
    /// The packets in order; the first is an SR or RR.
    pub packets: Vec<RtcpRepr<'a>>,
}

impl<'a> CompoundRepr<'a> {
    /// What a gateway sends every reporting interval (RFC 3550 §6.1): an
    /// SR if `sender_info` is given (we sent RTP since the last report),
    /// else an RR, with `reports` about the sources we receive; then an
    /// SDES with our CNAME.
    pub fn report(ssrc: u32, sender_info: Option<SenderInfo>, reports: Vec<ReportBlockRepr>, cname: &'a [u8]) -> CompoundRepr<'a> {
        let first = match sender_info {
            Some(sender_info) => RtcpRepr::SenderReport(SenderReportRepr { ssrc, sender_info, reports, extension: &[] }),
            None => RtcpRepr::ReceiverReport(ReceiverReportRepr { ssrc, reports, extension: &[] }),
        };
        CompoundRepr { packets: vec![first, RtcpRepr::SourceDescription(SdesRepr { chunks: vec![SdesChunk::cname(ssrc, cname)] })] }
    }

    /// Appends a BYE for `ssrc` (RFC 3550 §6.6), as sent at the end of a
    /// call.
    pub fn with_bye(mut self, ssrc: u32, reason: Option<&'a [u8]>) -> CompoundRepr<'a> {
        self.packets.push(RtcpRepr::Goodbye(ByeRepr { sources: vec![ssrc], reason }));
        self
    }

    /// Parses a compound datagram (see [`check_compound`]).
    pub fn parse(data: &'a [u8]) -> Result<CompoundRepr<'a>, Error> {
        check_compound(data)?;
        let packets = CompoundIter::new(data).map(|p| p.and_then(|p| RtcpRepr::parse(&p))).collect::<Result<Vec<_>, _>>()?;
        Ok(CompoundRepr { packets })
    }

    /// The SDES CNAME of `ssrc`, if one of the packets carries it.
    pub fn cname(&self, ssrc: u32) -> Option<&'a [u8]> {
        self.packets.iter().find_map(|p| match p {
            RtcpRepr::SourceDescription(sdes) => sdes.chunks.iter().filter(|c| c.ssrc == ssrc).find_map(SdesChunk::find_cname),
            _ => None,
        })
    }

    /// Length of the emitted datagram.
    pub fn buffer_len(&self) -> usize {
        self.packets.iter().fold(0usize, |n, p| n.saturating_add(p.buffer_len()))
    }

    /// Writes the packets back to back into `buf`; returns the length.
    /// [`Error::Malformed`] if the first packet is not an SR or RR.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if !matches!(self.packets.first(), Some(RtcpRepr::SenderReport(_) | RtcpRepr::ReceiverReport(_))) {
            return Err(Error::Malformed);
        }
        let mut at = 0;
        for packet in &self.packets {
            let rest = buf.get_mut(at..).ok_or(Error::BufferTooSmall)?;
            packet.emit(&mut RtcpPacket::new_unchecked(rest))?;
            at += packet.buffer_len();
        }
        Ok(at)
    }

    /// The datagram as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0; self.buffer_len()];
        let n = self.emit(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RR + SDES CNAME compound packet laid out by hand after RFC 3550
    /// §6.4.2 and §6.5 (as a softphone sends it): RR from 0x1B2C3D4E with
    /// one report block on 0xA0B0C0D0 (fraction 0x19 = 25/256, cumulative
    /// lost 3, ext. highest seq 0x0001_0203, jitter 17, LSR 0x1234_5678,
    /// DLSR 0x0002_0000 = 2 s); then SDES CNAME "tandem@gw1".
    const RR_SDES: [u8; 56] = [
        0x81, 201, 0x00, 0x07, // V=2 RC=1 RR, length 7 (32 octets)
        0x1B, 0x2C, 0x3D, 0x4E, // SSRC of sender
        0xA0, 0xB0, 0xC0, 0xD0, // SSRC_1
        0x19, 0x00, 0x00, 0x03, // fraction lost, cumulative lost
        0x00, 0x01, 0x02, 0x03, // extended highest sequence number
        0x00, 0x00, 0x00, 0x11, // jitter
        0x12, 0x34, 0x56, 0x78, // LSR
        0x00, 0x02, 0x00, 0x00, // DLSR
        0x81, 202, 0x00, 0x05, // V=2 SC=1 SDES, length 5 (24 octets)
        0x1B, 0x2C, 0x3D, 0x4E, // SSRC
        0x01, 0x0A, b't', b'a', // CNAME, 10 octets
        b'n', b'd', b'e', b'm', //
        b'@', b'g', b'w', b'1', //
        0x00, 0x00, 0x00, 0x00, // END + null padding to the word
    ];

    #[test]
    fn rr_sdes_view() {
        let mut iter = CompoundIter::new(&RR_SDES);
        let rr = iter.next().unwrap().unwrap();
        assert_eq!(rr.packet_type(), RtcpPacketType::ReceiverReport);
        assert_eq!((rr.count(), rr.packet_len(), rr.ssrc()), (1, 32, 0x1B2C_3D4E));
        let b = rr.report_block(0).unwrap();
        assert_eq!(b.ssrc(), 0xA0B0_C0D0);
        assert_eq!(b.fraction_lost(), 0x19);
        assert_eq!(b.cumulative_lost(), 3);
        assert_eq!(b.extended_highest_seq(), 0x0001_0203);
        assert_eq!(b.jitter(), 17);
        assert_eq!(b.last_sr(), 0x1234_5678);
        assert_eq!(b.delay_since_last_sr(), 0x0002_0000);
        assert!(rr.report_block(1).is_none());
        let sdes = iter.next().unwrap().unwrap();
        let chunk = sdes.sdes_chunks().next().unwrap().unwrap();
        assert_eq!(chunk.ssrc, 0x1B2C_3D4E);
        assert_eq!(chunk.cname(), Some(&b"tandem@gw1"[..]));
        assert!(iter.next().is_none());
    }

    #[test]
    fn rr_sdes_repr_round_trip() {
        let block = ReportBlockRepr {
            ssrc: 0xA0B0_C0D0,
            fraction_lost: 0x19,
            cumulative_lost: 3,
            extended_highest_seq: 0x0001_0203,
            jitter: 17,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 0x0002_0000,
        };
        let repr = CompoundRepr::report(0x1B2C_3D4E, None, vec![block], b"tandem@gw1");
        assert_eq!(repr.to_vec().unwrap(), RR_SDES);
        let parsed = CompoundRepr::parse(&RR_SDES).unwrap();
        assert_eq!(parsed, repr);
        assert_eq!(parsed.cname(0x1B2C_3D4E), Some(&b"tandem@gw1"[..]));
    }

    #[test]
    fn sr_sdes_bye() {
        let si = SenderInfo { ntp_timestamp: 0xE9F0_1234_8000_0000, rtp_timestamp: 160_000, packet_count: 1000, octet_count: 160_000 };
        let repr = CompoundRepr::report(7, Some(si), vec![], b"gw").with_bye(7, Some(b"hangup"));
        let bytes = repr.to_vec().unwrap();
        // SR 28; SDES 4 + (4 + 2+2 + END, padded to 12); BYE 4 + 4 + (1+6,
        // padded to 8).
        assert_eq!(bytes.len(), 28 + 16 + 16);
        assert_eq!(&bytes[..4], &[0x80, 200, 0x00, 0x06]);
        let sr = RtcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(sr.ntp_timestamp(), si.ntp_timestamp);
        assert_eq!(sr.rtp_timestamp(), 160_000);
        assert_eq!(sr.sender_packet_count(), 1000);
        assert_eq!(sr.sender_octet_count(), 160_000);
        let bye = RtcpPacket::new_checked(&bytes[44..]).unwrap();
        assert_eq!(bye.bye_sources().collect::<Vec<_>>(), [7]);
        assert_eq!(bye.bye_reason(), Ok(Some(&b"hangup"[..])));
        assert_eq!(CompoundRepr::parse(&bytes).unwrap(), repr);
    }

    #[test]
    fn cumulative_lost_is_signed_24_bit() {
        let mut b = [0u8; 24];
        let mut v = ReportBlock::new_unchecked(&mut b[..]);
        v.set_cumulative_lost(-1);
        assert_eq!(&b[4..8], &[0, 0xFF, 0xFF, 0xFF]);
        assert_eq!(ReportBlock::new_unchecked(&b[..]).cumulative_lost(), -1);
        let mut v = ReportBlock::new_unchecked(&mut b[..]);
        v.set_cumulative_lost(i32::MAX);
        assert_eq!(ReportBlock::new_unchecked(&b[..]).cumulative_lost(), CUMULATIVE_LOST_MAX);
        let mut v = ReportBlock::new_unchecked(&mut b[..]);
        v.set_cumulative_lost(i32::MIN);
        assert_eq!(&b[5..8], &[0x80, 0, 0]);
        assert_eq!(ReportBlock::new_unchecked(&b[..]).cumulative_lost(), CUMULATIVE_LOST_MIN);
    }

    #[test]
    fn compound_errors() {
        // Truncated: the RR says 32 octets, 31 given.
        let mut it = CompoundIter::new(&RR_SDES[..31]);
        assert_eq!(it.next(), Some(Err(Error::Truncated)));
        assert_eq!(it.next(), None);
        // Second packet truncated after a good first one.
        let mut it = CompoundIter::new(&RR_SDES[..40]);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.next(), Some(Err(Error::Truncated)));
        // Padding on the first of two packets.
        let mut p = RR_SDES;
        p[0] |= 0x20;
        p[31] = 4;
        assert_eq!(CompoundIter::new(&p).next(), Some(Err(Error::Padding)));
        // Version 1.
        let mut p = RR_SDES;
        p[0] = 0x41;
        assert_eq!(CompoundIter::new(&p).next(), Some(Err(Error::Version(1))));
        // SDES first is not a valid compound packet, but iterates.
        assert_eq!(check_compound(&RR_SDES[32..]), Err(Error::Malformed));
        assert_eq!(CompoundIter::new(&RR_SDES[32..]).count(), 1);
        // SDES without its END octet.
        let sdes = [0x81, 202, 0x00, 0x03, 0, 0, 0, 1, 1, 6, b'a', b'b', b'c', b'd', b'e', b'f'];
        assert_eq!(RtcpRepr::parse_bytes(&sdes), Err(Error::Truncated));
        // RR claiming 2 report blocks with room for 1.
        let mut p = RR_SDES;
        p[0] = 0x82;
        assert_eq!(CompoundRepr::parse(&p), Err(Error::Truncated));
        // BYE whose reason runs past the packet.
        let bye = [0x81, 203, 0x00, 0x02, 0, 0, 0, 1, 9, b'x', 0, 0];
        assert_eq!(RtcpRepr::parse_bytes(&bye), Err(Error::Truncated));
    }

    #[test]
    fn padded_last_packet() {
        // RR with no blocks, padded by one word (count 4).
        let p = [0xA0, 201, 0x00, 0x02, 0, 0, 0, 9, 0, 0, 0, 4];
        let v = RtcpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(v.padding_len(), 4);
        assert_eq!(v.payload(), &[0, 0, 0, 9]);
        assert_eq!(CompoundRepr::parse(&p).unwrap().packets, [RtcpRepr::ReceiverReport(ReceiverReportRepr { ssrc: 9, ..Default::default() })]);
        let mut bad = p;
        bad[11] = 12; // more than the 8 octets after the header
        assert_eq!(RtcpPacket::new_checked(&bad[..]), Err(Error::Padding));
        bad[11] = 3; // not a multiple of 4
        assert_eq!(RtcpPacket::new_checked(&bad[..]), Err(Error::Padding));
        bad[11] = 0;
        assert_eq!(RtcpPacket::new_checked(&bad[..]), Err(Error::Padding));
    }

    #[test]
    fn app_and_unknown() {
        let app = RtcpRepr::App(AppRepr { subtype: 5, ssrc: 1, name: *b"TDMG", data: &[1, 2, 3, 4] });
        let bytes = app.to_vec().unwrap();
        assert_eq!(&bytes[..4], &[0x85, 204, 0, 3]);
        assert_eq!(RtcpRepr::parse_bytes(&bytes), Ok(app));
        // RTPFB generic NACK (RFC 4585), kept raw.
        let nack = [0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x10, 0x00, 0x00];
        let r = RtcpRepr::parse_bytes(&nack).unwrap();
        assert_eq!(r, RtcpRepr::Unknown { packet_type: 205, count: 1, payload: &nack[4..] });
        assert_eq!(r.to_vec().unwrap(), nack);
    }

    #[test]
    fn emit_errors() {
        let too_many = RtcpRepr::ReceiverReport(ReceiverReportRepr { ssrc: 0, reports: vec![ReportBlockRepr::default(); 32], extension: &[] });
        assert_eq!(too_many.to_vec(), Err(Error::FieldRange));
        let end_item = RtcpRepr::SourceDescription(SdesRepr {
            chunks: vec![SdesChunk { ssrc: 0, items: vec![SdesItem { item_type: SdesItemType::from(0), value: b"" }] }],
        });
        assert_eq!(end_item.to_vec(), Err(Error::FieldRange));
        let unaligned = RtcpRepr::App(AppRepr { data: &[1], ..Default::default() });
        assert_eq!(unaligned.to_vec(), Err(Error::FieldRange));
        let mut small = [0u8; 8];
        assert_eq!(RtcpRepr::ReceiverReport(ReceiverReportRepr::default()).emit(&mut RtcpPacket::new_unchecked(&mut small[..7])), Err(Error::BufferTooSmall));
        assert_eq!(CompoundRepr::default().to_vec(), Err(Error::Malformed));
    }

    #[test]
    fn unchecked_views_never_panic() {
        for len in 0..64 {
            for (b0, b1) in [(0x9F, 200), (0xBF, 201), (0x9F, 202), (0xBF, 203), (0x9F, 204)] {
                let mut buf = vec![0x01u8; len];
                if len > 1 {
                    buf[0] = b0;
                    buf[1] = b1;
                }
                let p = RtcpPacket::new_unchecked(&buf[..]);
                let _ = (p.payload(), p.report_extension(), p.app_data(), p.bye_reason());
                let _ = p.report_blocks().count() + p.bye_sources().count();
                let _ = p.sdes_chunks().count();
                let _ = p.report_block(30).map(|b| b.cumulative_lost());
                let mut q = RtcpPacket::new_unchecked(&mut buf[..]);
                q.set_sender_octet_count(1);
                q.payload_mut().fill(0);
                if let Some(mut b) = q.report_block_mut(0) {
                    b.set_jitter(1);
                }
            }
        }
    }
}
