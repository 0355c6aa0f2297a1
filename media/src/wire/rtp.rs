//! RTP data packets (RFC 3550 §5.1, §5.3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           synchronization source (SSRC) identifier            |
//! +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! |            contributing source (CSRC) identifiers             |
//! |                   (CC of them, 0 to 15)                       |
//! +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! |   defined by profile (X=1)    |  length (32-bit words)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  header extension data                        |
//! +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! |                           payload ...                         |
//! |                               +-------------------------------+
//! |                               | padding ...   | count (P=1)   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! What [`RtpPacket::check_len`] enforces, all in `usize` arithmetic that
//! cannot overflow (the largest header is 12 + 60 + 4 + 262 140 octets):
//!
//! * at least the 12-octet fixed header, then the CSRC list (4 × CC);
//! * with X, the 4-octet extension header and then `length` 32-bit words;
//! * with P, a padding count (the last octet) of at least 1 (it counts
//!   itself) and at most the octets after the header, so the payload is
//!   never negative and padding never reaches into the header.
//!
//! [`RtpPacket::new_checked`] adds the version check (2). The common case —
//! V=2 and P, X, CC all zero, i.e. a first octet of `0x80` — is decided
//! by one comparison in an inlined fast path of `new_checked`,
//! [`RtpRepr::parse`] and [`RtpRepr::emit`].

use super::Error;
use super::field::{self, slice, slice_mut, u8_at, u16_at, u32_at};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// The only RTP version there is.
pub const VERSION: u8 = 2;
/// Most CSRC identifiers a header can carry (4-bit CC).
pub const MAX_CSRC_COUNT: usize = 15;
/// Length of the header extension's own header (profile + length).
pub const EXTENSION_HEADER_LEN: usize = 4;
/// First octet of the common header: V=2, no padding, no extension, no CSRC.
pub const FIRST_OCTET_PLAIN: u8 = VERSION << 6;

mod bits {
    pub const PADDING: u8 = 0x20;
    pub const EXTENSION: u8 = 0x10;
    pub const CC: u8 = 0x0F;
    pub const MARKER: u8 = 0x80;
    pub const PT: u8 = 0x7F;
    /// P, X and CC: all zero in the common header.
    pub const NOT_PLAIN: u8 = 0x3F;
}

/// A read/write view of an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RtpPacket<T> {
    /// Wraps a buffer without checking it. Accessors never panic, but
    /// return meaningless values for a buffer that fails
    /// [`check_len`](RtpPacket::check_len).
    pub const fn new_unchecked(buffer: T) -> RtpPacket<T> {
        RtpPacket { buffer }
    }

    /// Wraps a buffer after checking the version (2) and
    /// [`check_len`](RtpPacket::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<RtpPacket<T>, Error> {
        let packet = RtpPacket::new_unchecked(buffer);
        let data = packet.buffer.as_ref();
        // Fast path: the plain 12-octet header (first octet 0x80).
        if data.len() >= HEADER_LEN && u8_at(data, 0) == FIRST_OCTET_PLAIN {
            return Ok(packet);
        }
        if !data.is_empty() && packet.version() != VERSION {
            return Err(Error::Version(packet.version()));
        }
        packet.check_len_slow()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the fixed header, the CSRC list, the
    /// header extension (when X is set) and valid padding (when P is set).
    /// Does not look at the version.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        if data.len() >= HEADER_LEN && u8_at(data, 0) & bits::NOT_PLAIN == 0 {
            return Ok(());
        }
        self.check_len_slow()
    }

    #[inline(never)]
    fn check_len_slow(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        let len = data.len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let mut header_len = HEADER_LEN + 4 * self.csrc_count_usize();
        if len < header_len {
            return Err(Error::Truncated);
        }
        if self.has_extension() {
            if len < header_len + EXTENSION_HEADER_LEN {
                return Err(Error::Truncated);
            }
            let words = usize::from(u16_at(data, header_len + 2));
            header_len += EXTENSION_HEADER_LEN + 4 * words;
            if len < header_len {
                return Err(Error::Truncated);
            }
        }
        if self.has_padding() {
            let count = usize::from(u8_at(data, len - 1));
            if count == 0 || count > len - header_len {
                return Err(Error::Padding);
            }
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version field (2 bits).
    #[inline]
    pub fn version(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 0) >> 6
    }

    /// The P bit: the packet ends with padding.
    #[inline]
    pub fn has_padding(&self) -> bool {
        u8_at(self.buffer.as_ref(), 0) & bits::PADDING != 0
    }

    /// The X bit: a header extension follows the CSRC list.
    #[inline]
    pub fn has_extension(&self) -> bool {
        u8_at(self.buffer.as_ref(), 0) & bits::EXTENSION != 0
    }

    /// CSRC count (0–15).
    #[inline]
    pub fn csrc_count(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 0) & bits::CC
    }

    fn csrc_count_usize(&self) -> usize {
        usize::from(self.csrc_count())
    }

    /// The marker bit (profile-defined; start of a talkspurt or of a
    /// telephone event).
    #[inline]
    pub fn marker(&self) -> bool {
        u8_at(self.buffer.as_ref(), 1) & bits::MARKER != 0
    }

    /// Payload type (7 bits).
    #[inline]
    pub fn payload_type(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 1) & bits::PT
    }

    /// Sequence number.
    #[inline]
    pub fn sequence_number(&self) -> u16 {
        u16_at(self.buffer.as_ref(), 2)
    }

    /// Timestamp.
    #[inline]
    pub fn timestamp(&self) -> u32 {
        u32_at(self.buffer.as_ref(), 4)
    }

    /// Synchronization source identifier.
    #[inline]
    pub fn ssrc(&self) -> u32 {
        u32_at(self.buffer.as_ref(), 8)
    }

    /// CSRC identifier number `index` (0 when `index` ≥ CC).
    pub fn csrc(&self, index: usize) -> u32 {
        if index < self.csrc_count_usize() { u32_at(self.buffer.as_ref(), HEADER_LEN + 4 * index) } else { 0 }
    }

    /// The CSRC identifiers, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + '_ {
        let end = HEADER_LEN + 4 * self.csrc_count_usize();
        slice(self.buffer.as_ref(), HEADER_LEN, end).chunks_exact(4).map(|c| u32_at(c, 0))
    }

    /// Offset of the header extension (or of the payload, without one).
    #[inline]
    pub fn extension_offset(&self) -> usize {
        HEADER_LEN + 4 * self.csrc_count_usize()
    }

    /// The 16 "defined by profile" bits of the header extension (0 without
    /// one).
    pub fn extension_profile(&self) -> u16 {
        if self.has_extension() { u16_at(self.buffer.as_ref(), self.extension_offset()) } else { 0 }
    }

    /// The extension length field: 32-bit words of extension data after
    /// the 4-octet extension header (0 without an extension).
    pub fn extension_len_words(&self) -> u16 {
        if self.has_extension() { u16_at(self.buffer.as_ref(), self.extension_offset() + 2) } else { 0 }
    }

    /// The extension data (empty without an extension).
    pub fn extension_data(&self) -> &[u8] {
        if !self.has_extension() {
            return &[];
        }
        let start = self.extension_offset() + EXTENSION_HEADER_LEN;
        let end = start + 4 * usize::from(self.extension_len_words());
        slice(self.buffer.as_ref(), start, end)
    }

    /// Profile bits and data of the header extension, if X is set.
    pub fn extension(&self) -> Option<(u16, &[u8])> {
        if self.has_extension() { Some((self.extension_profile(), self.extension_data())) } else { None }
    }

    /// Length of the whole header: fixed part, CSRC list and extension.
    #[inline]
    pub fn header_len(&self) -> usize {
        let data = self.buffer.as_ref();
        if u8_at(data, 0) & (bits::EXTENSION | bits::CC) == 0 {
            return HEADER_LEN;
        }
        let mut len = self.extension_offset();
        if self.has_extension() {
            len += EXTENSION_HEADER_LEN + 4 * usize::from(u16_at(data, len + 2));
        }
        len
    }

    /// Octets of padding at the end, counting the count octet (0 without
    /// the P bit).
    #[inline]
    pub fn padding_len(&self) -> usize {
        let data = self.buffer.as_ref();
        if self.has_padding() { data.last().map_or(0, |&c| usize::from(c)) } else { 0 }
    }

    /// Payload octets between header and padding.
    #[inline]
    pub fn payload_len(&self) -> usize {
        self.payload().len()
    }

    /// The payload, without header and padding (empty if the lengths are
    /// inconsistent, which a checked view rules out).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let end = data.len().saturating_sub(self.padding_len());
        slice(data, self.header_len(), end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RtpPacket<T> {
    fn set_first(&mut self, mask: u8, value: u8) {
        let b = u8_at(self.buffer.as_ref(), 0);
        field::set_u8(self.buffer.as_mut(), 0, (b & !mask) | (value & mask));
    }

    fn set_flag(&mut self, mask: u8, on: bool) {
        self.set_first(mask, if on { mask } else { 0 });
    }

    /// Sets the version field (2 bits; masked).
    pub fn set_version(&mut self, version: u8) {
        self.set_first(0xC0, version << 6);
    }

    /// Sets the P bit (the caller writes the padding itself).
    pub fn set_padding(&mut self, on: bool) {
        self.set_flag(bits::PADDING, on);
    }

    /// Sets the X bit.
    pub fn set_extension(&mut self, on: bool) {
        self.set_flag(bits::EXTENSION, on);
    }

    /// Sets the CSRC count (masked to 4 bits).
    pub fn set_csrc_count(&mut self, count: u8) {
        self.set_first(bits::CC, count);
    }

    /// Sets the marker bit.
    pub fn set_marker(&mut self, on: bool) {
        let b = u8_at(self.buffer.as_ref(), 1);
        let b = if on { b | bits::MARKER } else { b & !bits::MARKER };
        field::set_u8(self.buffer.as_mut(), 1, b);
    }

    /// Sets the payload type (masked to 7 bits).
    pub fn set_payload_type(&mut self, pt: u8) {
        let b = u8_at(self.buffer.as_ref(), 1);
        field::set_u8(self.buffer.as_mut(), 1, (b & bits::MARKER) | (pt & bits::PT));
    }

    /// Sets the sequence number.
    pub fn set_sequence_number(&mut self, seq: u16) {
        field::set_u16(self.buffer.as_mut(), 2, seq);
    }

    /// Sets the timestamp.
    pub fn set_timestamp(&mut self, ts: u32) {
        field::set_u32(self.buffer.as_mut(), 4, ts);
    }

    /// Sets the SSRC.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        field::set_u32(self.buffer.as_mut(), 8, ssrc);
    }

    /// Sets CSRC number `index` (nothing happens when `index` ≥ CC).
    pub fn set_csrc(&mut self, index: usize, csrc: u32) {
        if index < self.csrc_count_usize() {
            field::set_u32(self.buffer.as_mut(), HEADER_LEN + 4 * index, csrc);
        }
    }

    /// Writes the extension header (profile bits and length in words) at
    /// [`extension_offset`](RtpPacket::extension_offset); set X yourself.
    pub fn set_extension_header(&mut self, profile: u16, len_words: u16) {
        let at = self.extension_offset();
        field::set_u16(self.buffer.as_mut(), at, profile);
        field::set_u16(self.buffer.as_mut(), at + 2, len_words);
    }

    /// Mutable extension data (empty without X).
    pub fn extension_data_mut(&mut self) -> &mut [u8] {
        if !self.has_extension() {
            return &mut [];
        }
        let start = self.extension_offset() + EXTENSION_HEADER_LEN;
        let end = start + 4 * usize::from(self.extension_len_words());
        slice_mut(self.buffer.as_mut(), start, end)
    }

    /// Mutable payload, between header and padding.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let end = self.buffer.as_ref().len().saturating_sub(self.padding_len());
        slice_mut(self.buffer.as_mut(), start, end)
    }
}

/// The contributing sources of a packet (0–15 identifiers), zero-copy:
/// either the CSRC list of a parsed packet (its octets) or identifiers
/// borrowed from the caller for emitting. Equality and hashing are by the
/// identifiers, whichever the form.
#[derive(Clone, Copy)]
pub struct Csrcs<'a>(CsrcsInner<'a>);

#[derive(Clone, Copy)]
enum CsrcsInner<'a> {
    /// 4 × n octets, n ≤ 15.
    Wire(&'a [u8]),
    /// n ≤ 15 identifiers.
    Ids(&'a [u32]),
}

impl<'a> Csrcs<'a> {
    /// No contributing sources.
    pub const EMPTY: Csrcs<'static> = Csrcs(CsrcsInner::Ids(&[]));

    /// Borrows `ids`; [`Error::FieldRange`] for more than 15.
    pub const fn from_ids(ids: &'a [u32]) -> Result<Csrcs<'a>, Error> {
        if ids.len() > MAX_CSRC_COUNT { Err(Error::FieldRange) } else { Ok(Csrcs(CsrcsInner::Ids(ids))) }
    }

    /// Reads a CSRC list off the wire: `octets` is 4 × n octets, n ≤ 15
    /// ([`Error::FieldRange`] otherwise).
    pub const fn from_wire(octets: &'a [u8]) -> Result<Csrcs<'a>, Error> {
        if octets.len() % 4 != 0 || octets.len() > 4 * MAX_CSRC_COUNT { Err(Error::FieldRange) } else { Ok(Csrcs(CsrcsInner::Wire(octets))) }
    }

    /// Number of identifiers (0–15).
    pub const fn len(&self) -> usize {
        match self.0 {
            CsrcsInner::Wire(w) => w.len() / 4,
            CsrcsInner::Ids(ids) => ids.len(),
        }
    }

    /// Whether there are none.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Identifier number `index`.
    pub fn get(&self, index: usize) -> Option<u32> {
        match self.0 {
            CsrcsInner::Wire(w) => w.chunks_exact(4).nth(index).map(|c| u32_at(c, 0)),
            CsrcsInner::Ids(ids) => ids.get(index).copied(),
        }
    }

    /// The identifiers, in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        let (wire, ids): (&'a [u8], &'a [u32]) = match self.0 {
            CsrcsInner::Wire(w) => (w, &[]),
            CsrcsInner::Ids(ids) => (&[], ids),
        };
        wire.chunks_exact(4).map(|c| u32_at(c, 0)).chain(ids.iter().copied())
    }
}

impl Default for Csrcs<'_> {
    fn default() -> Self {
        Csrcs::EMPTY
    }
}

impl PartialEq for Csrcs<'_> {
    fn eq(&self, other: &Csrcs<'_>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Csrcs<'_> {}

impl core::hash::Hash for Csrcs<'_> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for id in self.iter() {
            state.write_u32(id);
        }
    }
}

impl core::fmt::Debug for Csrcs<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// An RTP header extension (RFC 3550 §5.3.1): 16 profile-defined bits and
/// data of a whole number of 32-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpExtension<'a> {
    /// The "defined by profile" field (e.g. 0xBEDE for RFC 8285 one-byte
    /// header extensions).
    pub profile: u16,
    /// Extension data; its length must be a multiple of 4 and at most
    /// 65 535 words.
    pub data: &'a [u8],
}

/// A parsed RTP header, smoltcp style: the payload itself stays in the
/// packet ([`RtpPacket::payload`] / [`RtpPacket::payload_mut`]); the repr
/// carries its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpRepr<'a> {
    /// Marker bit.
    pub marker: bool,
    /// Payload type, 0–127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// Contributing sources (0–15).
    pub csrcs: Csrcs<'a>,
    /// Header extension, if any.
    pub extension: Option<RtpExtension<'a>>,
    /// Payload octets between header and padding.
    pub payload_len: usize,
    /// Padding octets at the end including the count octet; 0 means no
    /// padding (P bit clear).
    pub padding: u8,
}

impl<'a> RtpRepr<'a> {
    /// A plain header (no marker, CSRC, extension or padding).
    pub const fn new(payload_type: u8, sequence_number: u16, timestamp: u32, ssrc: u32, payload_len: usize) -> RtpRepr<'a> {
        RtpRepr { marker: false, payload_type, sequence_number, timestamp, ssrc, csrcs: Csrcs::EMPTY, extension: None, payload_len, padding: 0 }
    }

    /// Parses a packet (checked or not: this validates it again, with the
    /// same fast path as [`RtpPacket::new_checked`]).
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &RtpPacket<&'a T>) -> Result<RtpRepr<'a>, Error> {
        let buffer: &'a T = packet.buffer;
        Self::parse_bytes(buffer.as_ref())
    }

    /// Parses untrusted octets.
    #[inline]
    pub fn parse_bytes(data: &'a [u8]) -> Result<RtpRepr<'a>, Error> {
        if let Some(h) = data.first_chunk::<HEADER_LEN>() {
            if h[0] == FIRST_OCTET_PLAIN {
                return Ok(RtpRepr {
                    marker: h[1] & bits::MARKER != 0,
                    payload_type: h[1] & bits::PT,
                    sequence_number: u16::from_be_bytes([h[2], h[3]]),
                    timestamp: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    ssrc: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
                    csrcs: Csrcs::EMPTY,
                    extension: None,
                    payload_len: data.len() - HEADER_LEN,
                    padding: 0,
                });
            }
        }
        Self::parse_slow(data)
    }

    #[inline(always)]
    fn parse_slow(data: &'a [u8]) -> Result<RtpRepr<'a>, Error> {
        // One pass, splitting off each part; the same checks, in the same
        // order, as `RtpPacket::new_checked`.
        if let Some(&b0) = data.first() {
            if b0 >> 6 != VERSION {
                return Err(Error::Version(b0 >> 6));
            }
        }
        let (h, rest) = data.split_first_chunk::<HEADER_LEN>().ok_or(Error::Truncated)?;
        let cc = usize::from(h[0] & bits::CC);
        let (csrc_bytes, rest) = rest.split_at_checked(4 * cc).ok_or(Error::Truncated)?;
        let csrcs = Csrcs(CsrcsInner::Wire(csrc_bytes)); // 4 × cc ≤ 60 octets
        let (extension, rest) = if h[0] & bits::EXTENSION != 0 {
            let (eh, rest) = rest.split_first_chunk::<EXTENSION_HEADER_LEN>().ok_or(Error::Truncated)?;
            let words = usize::from(u16::from_be_bytes([eh[2], eh[3]]));
            let (ext, rest) = rest.split_at_checked(4 * words).ok_or(Error::Truncated)?;
            let profile = u16::from_be_bytes([eh[0], eh[1]]);
            (Some(RtpExtension { profile, data: ext }), rest)
        } else {
            (None, rest)
        };
        let padding = if h[0] & bits::PADDING != 0 {
            match rest.last() {
                Some(&count) if count != 0 && usize::from(count) <= rest.len() => count,
                _ => return Err(Error::Padding),
            }
        } else {
            0
        };
        Ok(RtpRepr {
            marker: h[1] & bits::MARKER != 0,
            payload_type: h[1] & bits::PT,
            sequence_number: u16::from_be_bytes([h[2], h[3]]),
            timestamp: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            ssrc: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            csrcs,
            extension,
            payload_len: rest.len() - usize::from(padding),
            padding,
        })
    }

    /// Length of the header: fixed part, CSRCs, extension.
    pub fn header_len(&self) -> usize {
        let ext = self.extension.map_or(0, |e| EXTENSION_HEADER_LEN.saturating_add(e.data.len()));
        (HEADER_LEN + 4 * self.csrcs.len()).saturating_add(ext)
    }

    /// Length of the whole packet: header, payload and padding.
    pub fn buffer_len(&self) -> usize {
        self.header_len().saturating_add(self.payload_len).saturating_add(usize::from(self.padding))
    }

    /// Writes the header and the padding into `packet`, leaving the
    /// payload octets (after [`header_len`](RtpRepr::header_len)) alone.
    /// The packet is the first [`buffer_len`](RtpRepr::buffer_len) octets
    /// of the buffer (padding ends there).
    ///
    /// Errors: [`Error::BufferTooSmall`]; [`Error::FieldRange`] for a
    /// payload type above 127 or extension data that is not a whole number
    /// of words (at most 65 535).
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut RtpPacket<T>) -> Result<(), Error> {
        if self.payload_type > bits::PT {
            return Err(Error::FieldRange);
        }
        if self.csrcs.is_empty() && self.extension.is_none() && self.padding == 0 {
            // Fast path: the plain 12-octet header.
            let buf = packet.buffer.as_mut();
            if buf.len() < HEADER_LEN.saturating_add(self.payload_len) {
                return Err(Error::BufferTooSmall);
            }
            let Some(h) = buf.first_chunk_mut::<HEADER_LEN>() else {
                return Err(Error::BufferTooSmall);
            };
            let seq = self.sequence_number.to_be_bytes();
            let ts = self.timestamp.to_be_bytes();
            let ssrc = self.ssrc.to_be_bytes();
            *h = [
                FIRST_OCTET_PLAIN,
                u8::from(self.marker) << 7 | self.payload_type,
                seq[0],
                seq[1],
                ts[0],
                ts[1],
                ts[2],
                ts[3],
                ssrc[0],
                ssrc[1],
                ssrc[2],
                ssrc[3],
            ];
            return Ok(());
        }
        self.emit_slow(packet)
    }

    #[inline(never)]
    fn emit_slow<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut RtpPacket<T>) -> Result<(), Error> {
        let words = match self.extension {
            Some(ext) => {
                if ext.data.len() % 4 != 0 {
                    return Err(Error::FieldRange);
                }
                Some(u16::try_from(ext.data.len() / 4).map_err(|_| Error::FieldRange)?)
            }
            None => None,
        };
        let total = self.buffer_len();
        if total == usize::MAX || packet.buffer.as_ref().len() < total {
            return Err(Error::BufferTooSmall);
        }
        let csrc_count = self.csrcs.len() as u8; // at most 15
        packet.set_first(0xFF, VERSION << 6 | csrc_count);
        packet.set_padding(self.padding != 0);
        packet.set_extension(words.is_some());
        field::set_u8(packet.buffer.as_mut(), 1, u8::from(self.marker) << 7 | self.payload_type);
        packet.set_sequence_number(self.sequence_number);
        packet.set_timestamp(self.timestamp);
        packet.set_ssrc(self.ssrc);
        for (i, id) in self.csrcs.iter().enumerate() {
            packet.set_csrc(i, id);
        }
        if let (Some(ext), Some(words)) = (self.extension, words) {
            packet.set_extension_header(ext.profile, words);
            field::copy(packet.extension_data_mut(), 0, ext.data);
        }
        if self.padding != 0 {
            let start = self.header_len() + self.payload_len;
            let pad = slice_mut(packet.buffer.as_mut(), start, total);
            pad.fill(0);
            if let Some(last) = pad.last_mut() {
                *last = self.padding;
            }
        }
        Ok(())
    }

    /// Writes header, `payload` and padding into `buf`; returns the packet
    /// length. [`Error::FieldRange`] if `payload.len()` is not
    /// `payload_len`.
    pub fn emit_with_payload(&self, buf: &mut [u8], payload: &[u8]) -> Result<usize, Error> {
        if payload.len() != self.payload_len {
            return Err(Error::FieldRange);
        }
        let total = self.buffer_len();
        let mut packet = RtpPacket::new_unchecked(&mut *buf);
        self.emit(&mut packet)?;
        let start = self.header_len();
        field::copy(buf, start, payload);
        Ok(total)
    }

    /// The packet with `payload` as a new vector.
    pub fn to_vec(&self, payload: &[u8]) -> Result<Vec<u8>, Error> {
        if payload.len() != self.payload_len {
            return Err(Error::FieldRange);
        }
        let mut buf = vec![0; self.buffer_len()];
        self.emit_with_payload(&mut buf, payload)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A G.711 µ-law packet as a gateway sends it every 20 ms: V=2, PT 0,
    /// seq 0x1234, ts 0xDEADBEEF, SSRC 0x0A0B0C0D, 160 octets of payload
    /// (here 4, of µ-law silence 0xFF).
    const PCMU: [u8; 16] = [0x80, 0x00, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x0A, 0x0B, 0x0C, 0x0D, 0xFF, 0xFF, 0xFF, 0xFF];

    /// Everything at once (RFC 3550 §5.1 / §5.3.1 layout): V=2, P, X,
    /// CC=2, M, PT 101; two CSRCs; an extension with profile 0xBEDE and
    /// one word; 2 payload octets; 3 padding octets ending in the count 3.
    const FULL: [u8; 33] = [
        0xB2, 0xE5, 0x00, 0x01, 0x00, 0x00, 0x03, 0x20, 0x11, 0x22, 0x33, 0x44, // fixed
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // CSRCs
        0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x00, 0x00, // extension
        0x05, 0x06, // payload
        0x00, 0x00, 0x03, // padding
    ];

    #[test]
    fn plain_header() {
        let p = RtpPacket::new_checked(&PCMU[..]).unwrap();
        assert_eq!(p.version(), 2);
        assert!(!p.has_padding() && !p.has_extension() && !p.marker());
        assert_eq!(p.csrc_count(), 0);
        assert_eq!(p.payload_type(), 0);
        assert_eq!(p.sequence_number(), 0x1234);
        assert_eq!(p.timestamp(), 0xDEAD_BEEF);
        assert_eq!(p.ssrc(), 0x0A0B_0C0D);
        assert_eq!(p.header_len(), 12);
        assert_eq!(p.payload(), &[0xFF; 4]);
        let r = RtpRepr::parse(&p).unwrap();
        assert_eq!(r, RtpRepr::new(0, 0x1234, 0xDEAD_BEEF, 0x0A0B_0C0D, 4));
        assert_eq!(r.to_vec(&[0xFF; 4]).unwrap(), PCMU);
    }

    #[test]
    fn full_header() {
        let bytes = &FULL[..];
        let p = RtpPacket::new_checked(bytes).unwrap();
        assert!(p.has_padding() && p.has_extension() && p.marker());
        assert_eq!(p.csrc_count(), 2);
        assert_eq!(p.payload_type(), 101);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(p.csrc(1), 2);
        assert_eq!(p.csrc(2), 0);
        assert_eq!(p.extension(), Some((0xBEDE, &[0x10, 0xAA, 0, 0][..])));
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.padding_len(), 3);
        assert_eq!(p.payload(), &[5, 6]);
        let r = RtpRepr::parse(&p).unwrap();
        assert_eq!(r.csrcs.iter().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(r.csrcs, Csrcs::from_ids(&[1, 2]).unwrap());
        assert_eq!(r.csrcs.get(1), Some(2));
        assert_eq!(r.padding, 3);
        assert_eq!(r.payload_len, 2);
        assert_eq!(r.buffer_len(), 33);
        assert_eq!(r.to_vec(&[5, 6]).unwrap(), bytes);
    }

    #[test]
    fn emit_into_longer_buffer_is_the_prefix() {
        let r = RtpRepr::parse_bytes(&FULL[..]).unwrap();
        let mut buf = [0x55u8; 40];
        let n = r.emit_with_payload(&mut buf, &[5, 6]).unwrap();
        assert_eq!(&buf[..n], &FULL[..]);
        assert_eq!(&buf[n..], &[0x55; 7]);
    }

    #[test]
    fn version_and_truncation() {
        assert_eq!(RtpPacket::new_checked(&[][..]), Err(Error::Truncated));
        assert_eq!(RtpPacket::new_checked(&PCMU[..11]), Err(Error::Truncated));
        let mut v1 = PCMU;
        v1[0] = 0x40;
        assert_eq!(RtpPacket::new_checked(&v1[..]), Err(Error::Version(1)));
        // CC = 15 but no CSRC list: the overflow that bit the old parser.
        let mut cc = PCMU;
        cc[0] = 0x8F;
        assert_eq!(RtpPacket::new_checked(&cc[..]), Err(Error::Truncated));
        // X with a length of 0xFFFF words.
        let mut x = [0u8; 16];
        x[0] = 0x90;
        x[14] = 0xFF;
        x[15] = 0xFF;
        assert_eq!(RtpPacket::new_checked(&x[..]), Err(Error::Truncated));
        x[14] = 0;
        x[15] = 0;
        assert!(RtpPacket::new_checked(&x[..]).is_ok());
    }

    #[test]
    fn padding_is_validated() {
        // P with count 0.
        let mut p = PCMU;
        p[0] = 0xA0;
        p[15] = 0;
        assert_eq!(RtpPacket::new_checked(&p[..]), Err(Error::Padding));
        // P with count larger than what follows the header (4).
        p[15] = 5;
        assert_eq!(RtpPacket::new_checked(&p[..]), Err(Error::Padding));
        // Exactly the 4 octets after the header: empty payload.
        p[15] = 4;
        let v = RtpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(v.payload(), &[] as &[u8]);
        // P on a bare 12-octet header: the count would be in the header.
        let mut h = [0u8; 12];
        h[0] = 0xA0;
        h[11] = 1;
        assert_eq!(RtpPacket::new_checked(&h[..]), Err(Error::Padding));
        // Emitting a zero-length padding count is impossible: 0 means none.
        let r = RtpRepr { padding: 255, ..RtpRepr::new(8, 1, 2, 3, 0) };
        let bytes = r.to_vec(&[]).unwrap();
        assert_eq!(bytes.len(), 12 + 255);
        assert_eq!(RtpRepr::parse_bytes(&bytes), Ok(r));
    }

    #[test]
    fn unchecked_views_never_panic() {
        for len in 0..40 {
            for first in [0x00, 0x80, 0xBF, 0xFF, 0x9F, 0xAF] {
                let mut buf = vec![0xFFu8; len];
                if let Some(b) = buf.first_mut() {
                    *b = first;
                }
                let p = RtpPacket::new_unchecked(&buf[..]);
                let _ = (p.header_len(), p.payload(), p.extension(), p.csrc(14));
                let _ = p.csrcs().count();
                let mut q = RtpPacket::new_unchecked(&mut buf[..]);
                q.set_csrc(3, 1);
                q.set_extension_header(1, 2);
                q.extension_data_mut().fill(0);
                q.payload_mut().fill(0);
                q.set_ssrc(7);
            }
        }
    }

    #[test]
    fn emit_errors() {
        let mut buf = [0u8; 12];
        let r = RtpRepr::new(128, 0, 0, 0, 0);
        assert_eq!(r.emit(&mut RtpPacket::new_unchecked(&mut buf[..])), Err(Error::FieldRange));
        let r = RtpRepr::new(0, 0, 0, 0, 1);
        assert_eq!(r.emit(&mut RtpPacket::new_unchecked(&mut buf[..])), Err(Error::BufferTooSmall));
        let r = RtpRepr { extension: Some(RtpExtension { profile: 1, data: &[1, 2, 3] }), ..RtpRepr::new(0, 0, 0, 0, 0) };
        let mut big = [0u8; 64];
        assert_eq!(r.emit(&mut RtpPacket::new_unchecked(&mut big[..])), Err(Error::FieldRange));
        assert_eq!(Csrcs::from_ids(&[0; 16]), Err(Error::FieldRange));
        assert_eq!(Csrcs::from_wire(&[0; 3]), Err(Error::FieldRange));
        assert_eq!(RtpRepr::new(0, 0, 0, 0, 2).to_vec(&[1]), Err(Error::FieldRange));
    }

    #[test]
    fn setters() {
        let mut buf = [0u8; 20];
        let mut p = RtpPacket::new_unchecked(&mut buf[..]);
        p.set_version(2);
        p.set_marker(true);
        p.set_payload_type(0xFF);
        p.set_csrc_count(1);
        p.set_csrc(0, 0xCAFE_F00D);
        p.set_sequence_number(9);
        p.set_timestamp(160);
        p.set_ssrc(42);
        p.payload_mut().copy_from_slice(&[1, 2, 3, 4]);
        let p = RtpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 0x7F);
        assert_eq!(p.csrc(0), 0xCAFE_F00D);
        assert_eq!((p.sequence_number(), p.timestamp(), p.ssrc()), (9, 160, 42));
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
    }
}
