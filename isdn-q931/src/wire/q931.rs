//! Q.931 messages (ITU-T Q.931 §4): header, information element walk with
//! codeset shifts, and whole-message representation.
//!
//! ```text
//!  1        protocol discriminator (0x08 Q.931; 0x03 / 0x43 maintenance)
//!  2        0 0 0 0 | call reference length (0, 1 or 2)
//!  3..      flag | call reference value (7 or 15 bits)
//!  n        0 | message type
//!  n+1..    information elements
//! ```
//!
//! The call reference flag (bit 8 of the first value octet) is 0 in
//! messages sent *from* the side that allocated the call reference and 1
//! in messages sent *to* it.
//!
//! # Information elements and codesets (Q.931 §4.5)
//!
//! Single-octet IEs have bit 8 set (shift 0x9_, more data 0xA0, sending
//! complete 0xA1, congestion level 0xB_, repeat indicator 0xD_); all
//! others are identifier, length, contents. A locking shift (0x90 | n)
//! switches the active codeset to `n` until the next locking shift; a
//! non-locking shift (0x98 | n) applies to the next IE only. A
//! non-locking shift directly followed by a locking shift is taken as the
//! locking shift alone (§4.5.4).

use super::Error;
use super::ie::{IeId, IeRepr, RawIe};

/// Protocol discriminator (octet 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolDiscriminator {
    /// 0x08: Q.931 / I.451 user-network call control.
    Q931,
    /// 0x03: AT&T (4ESS/5ESS) maintenance messages (SERVICE).
    AttMaintenance,
    /// 0x43: national (NI-2) maintenance messages (SERVICE).
    NationalMaintenance,
    /// Anything else (Q.931 §5.8.1: ignore the message).
    Other(u8),
}

impl ProtocolDiscriminator {
    pub const fn from_byte(b: u8) -> ProtocolDiscriminator {
        match b {
            0x08 => ProtocolDiscriminator::Q931,
            0x03 => ProtocolDiscriminator::AttMaintenance,
            0x43 => ProtocolDiscriminator::NationalMaintenance,
            b => ProtocolDiscriminator::Other(b),
        }
    }
    pub const fn to_byte(self) -> u8 {
        match self {
            ProtocolDiscriminator::Q931 => 0x08,
            ProtocolDiscriminator::AttMaintenance => 0x03,
            ProtocolDiscriminator::NationalMaintenance => 0x43,
            ProtocolDiscriminator::Other(b) => b,
        }
    }
    /// One of the two maintenance discriminators.
    pub const fn is_maintenance(self) -> bool {
        matches!(self, ProtocolDiscriminator::AttMaintenance | ProtocolDiscriminator::NationalMaintenance)
    }
}

/// Call reference flag (bit 8 of the first call reference value octet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CallRefFlag {
    /// 0: sent from the side that originated the call reference.
    #[default]
    FromOriginator,
    /// 1: sent to the side that originated the call reference.
    ToOriginator,
}

impl CallRefFlag {
    /// The flag the other side uses for the same call.
    pub const fn flipped(self) -> CallRefFlag {
        match self {
            CallRefFlag::FromOriginator => CallRefFlag::ToOriginator,
            CallRefFlag::ToOriginator => CallRefFlag::FromOriginator,
        }
    }
}

/// A call reference: value, flag and encoded length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallRef {
    /// Value without the flag: 7 bits for length 1, 15 bits for length 2,
    /// 0 for the dummy call reference.
    pub value: u16,
    pub flag: CallRefFlag,
    /// Octets of call reference value: 0 (dummy), 1 (BRI) or 2 (PRI).
    pub len: u8,
}

impl CallRef {
    /// A two-octet (PRI) call reference.
    pub const fn pri(value: u16, flag: CallRefFlag) -> CallRef {
        CallRef { value: value & 0x7FFF, flag, len: 2 }
    }
    /// The dummy call reference (length 0), Q.931 §4.3.
    pub const fn dummy() -> CallRef {
        CallRef { value: 0, flag: CallRefFlag::FromOriginator, len: 0 }
    }
    /// The global call reference (value 0) with the given length (2 on
    /// PRI), as used by RESTART.
    pub const fn global(len: u8, flag: CallRefFlag) -> CallRef {
        CallRef { value: 0, flag, len }
    }
    pub const fn is_dummy(&self) -> bool {
        self.len == 0
    }
    /// Value 0 with a non-zero length.
    pub const fn is_global(&self) -> bool {
        self.len > 0 && self.value == 0
    }
    /// The same call reference as the other side writes it.
    pub const fn reversed(self) -> CallRef {
        CallRef { flag: self.flag.flipped(), ..self }
    }
    fn max_value(len: u8) -> u16 {
        match len {
            0 => 0,
            1 => 0x7F,
            _ => 0x7FFF,
        }
    }
}

/// Message types (Q.931 Table 4-2, Q.932, plus AT&T/NI-2 SERVICE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Alerting,
    CallProceeding,
    Connect,
    ConnectAcknowledge,
    Progress,
    Setup,
    SetupAcknowledge,
    Resume,
    ResumeAcknowledge,
    ResumeReject,
    Suspend,
    SuspendAcknowledge,
    SuspendReject,
    UserInformation,
    Disconnect,
    Release,
    ReleaseComplete,
    Restart,
    RestartAcknowledge,
    Segment,
    CongestionControl,
    Information,
    Notify,
    Status,
    StatusEnquiry,
    Facility,
    /// SERVICE (maintenance discriminators only).
    Service,
    /// SERVICE ACKNOWLEDGE (maintenance discriminators only).
    ServiceAcknowledge,
    /// Any other value (0x00 is the escape to nationally specific types).
    Unknown(u8),
}

const Q931_TYPES: &[(u8, MessageType)] = &[
    (0x01, MessageType::Alerting),
    (0x02, MessageType::CallProceeding),
    (0x07, MessageType::Connect),
    (0x0F, MessageType::ConnectAcknowledge),
    (0x03, MessageType::Progress),
    (0x05, MessageType::Setup),
    (0x0D, MessageType::SetupAcknowledge),
    (0x26, MessageType::Resume),
    (0x2E, MessageType::ResumeAcknowledge),
    (0x22, MessageType::ResumeReject),
    (0x25, MessageType::Suspend),
    (0x2D, MessageType::SuspendAcknowledge),
    (0x21, MessageType::SuspendReject),
    (0x20, MessageType::UserInformation),
    (0x45, MessageType::Disconnect),
    (0x4D, MessageType::Release),
    (0x5A, MessageType::ReleaseComplete),
    (0x46, MessageType::Restart),
    (0x4E, MessageType::RestartAcknowledge),
    (0x60, MessageType::Segment),
    (0x79, MessageType::CongestionControl),
    (0x7B, MessageType::Information),
    (0x6E, MessageType::Notify),
    (0x7D, MessageType::Status),
    (0x75, MessageType::StatusEnquiry),
    (0x62, MessageType::Facility),
];

impl MessageType {
    /// Decodes a message type octet. The maintenance discriminators have
    /// their own, mirrored codes: with 0x03 (AT&T) SERVICE is 0x0F and
    /// SERVICE ACKNOWLEDGE 0x07; with 0x43 (national, NI-2) SERVICE is
    /// 0x07 and SERVICE ACKNOWLEDGE 0x0F.
    pub fn from_byte(pd: ProtocolDiscriminator, b: u8) -> MessageType {
        match (pd, b) {
            (ProtocolDiscriminator::AttMaintenance, 0x0F) | (ProtocolDiscriminator::NationalMaintenance, 0x07) => MessageType::Service,
            (ProtocolDiscriminator::AttMaintenance, 0x07) | (ProtocolDiscriminator::NationalMaintenance, 0x0F) => MessageType::ServiceAcknowledge,
            (ProtocolDiscriminator::Q931, b) => Q931_TYPES.iter().find(|(code, _)| *code == b).map_or(MessageType::Unknown(b), |(_, t)| *t),
            (_, b) => MessageType::Unknown(b),
        }
    }

    /// Encodes the message type for `pd` (SERVICE under a non-maintenance
    /// discriminator uses the AT&T codes).
    pub fn to_byte(self, pd: ProtocolDiscriminator) -> u8 {
        let national = pd == ProtocolDiscriminator::NationalMaintenance;
        match self {
            MessageType::Service => {
                if national {
                    0x07
                } else {
                    0x0F
                }
            }
            MessageType::ServiceAcknowledge => {
                if national {
                    0x0F
                } else {
                    0x07
                }
            }
            MessageType::Unknown(b) => b,
            t => Q931_TYPES.iter().find(|(_, m)| *m == t).map_or(0, |(code, _)| *code),
        }
    }

    /// False for [`MessageType::Unknown`] (cause 97).
    pub const fn is_known(self) -> bool {
        !matches!(self, MessageType::Unknown(_))
    }

    /// IEs that are mandatory in this message whatever the direction and
    /// call state (Q.931 §3, ANSI T1.607 / NI-2 for SERVICE). Contextual
    /// requirements (channel identification in the first response to
    /// SETUP, cause in the first clearing message, ...) are the state
    /// machine's business.
    pub fn mandatory_ies(self) -> &'static [IeId] {
        match self {
            MessageType::Setup => &[IeId::BEARER_CAPABILITY],
            MessageType::Disconnect => &[IeId::CAUSE],
            MessageType::Status => &[IeId::CAUSE, IeId::CALL_STATE],
            MessageType::Progress => &[IeId::PROGRESS_INDICATOR],
            MessageType::Notify => &[IeId::NOTIFICATION_INDICATOR],
            MessageType::Restart | MessageType::RestartAcknowledge => &[IeId::RESTART_INDICATOR],
            MessageType::Facility => &[IeId::FACILITY],
            MessageType::Service | MessageType::ServiceAcknowledge => &[IeId::CHANGE_STATUS, IeId::CHANNEL_ID],
            _ => &[],
        }
    }

    /// The Q.931 name.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Alerting => "ALERTING",
            MessageType::CallProceeding => "CALL PROCEEDING",
            MessageType::Connect => "CONNECT",
            MessageType::ConnectAcknowledge => "CONNECT ACKNOWLEDGE",
            MessageType::Progress => "PROGRESS",
            MessageType::Setup => "SETUP",
            MessageType::SetupAcknowledge => "SETUP ACKNOWLEDGE",
            MessageType::Resume => "RESUME",
            MessageType::ResumeAcknowledge => "RESUME ACKNOWLEDGE",
            MessageType::ResumeReject => "RESUME REJECT",
            MessageType::Suspend => "SUSPEND",
            MessageType::SuspendAcknowledge => "SUSPEND ACKNOWLEDGE",
            MessageType::SuspendReject => "SUSPEND REJECT",
            MessageType::UserInformation => "USER INFORMATION",
            MessageType::Disconnect => "DISCONNECT",
            MessageType::Release => "RELEASE",
            MessageType::ReleaseComplete => "RELEASE COMPLETE",
            MessageType::Restart => "RESTART",
            MessageType::RestartAcknowledge => "RESTART ACKNOWLEDGE",
            MessageType::Segment => "SEGMENT",
            MessageType::CongestionControl => "CONGESTION CONTROL",
            MessageType::Information => "INFORMATION",
            MessageType::Notify => "NOTIFY",
            MessageType::Status => "STATUS",
            MessageType::StatusEnquiry => "STATUS ENQUIRY",
            MessageType::Facility => "FACILITY",
            MessageType::Service => "SERVICE",
            MessageType::ServiceAcknowledge => "SERVICE ACKNOWLEDGE",
            MessageType::Unknown(_) => "UNKNOWN",
        }
    }
}

/// A read/write view of a Q.931 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Message<T> {
    /// Wraps a buffer without checking. Accessors never panic.
    pub const fn new_unchecked(buffer: T) -> Message<T> {
        Message { buffer }
    }

    /// Wraps a buffer after [`check`](Message::check).
    pub fn new_checked(buffer: T) -> Result<Message<T>, Error> {
        let m = Message::new_unchecked(buffer);
        m.check()?;
        Ok(m)
    }

    /// Checks the header: at least 3 octets, a call reference length
    /// octet with spare bits 0 and length ≤ 2, and room for the call
    /// reference and the message type.
    pub fn check(&self) -> Result<(), Error> {
        let d = self.buffer.as_ref();
        if d.len() < 3 {
            return Err(Error::MessageTooShort);
        }
        if d[1] & 0xF0 != 0 || d[1] > 2 {
            return Err(Error::CallRefLength(d[1]));
        }
        if d.len() < self.header_len() {
            return Err(Error::MessageTooShort);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    pub fn protocol_discriminator(&self) -> ProtocolDiscriminator {
        ProtocolDiscriminator::from_byte(self.byte(0))
    }

    /// Length of the call reference value (0..=2 after `check`).
    pub fn call_ref_len(&self) -> u8 {
        self.byte(1) & 0x0F
    }

    /// Protocol discriminator, call reference and message type.
    pub fn header_len(&self) -> usize {
        3 + usize::from(self.call_ref_len())
    }

    pub fn call_ref(&self) -> CallRef {
        let len = self.call_ref_len().min(2);
        let mut value: u16 = 0;
        for i in 0..usize::from(len) {
            value = value << 8 | u16::from(self.byte(2 + i));
        }
        let flag = if len > 0 && self.byte(2) & 0x80 != 0 { CallRefFlag::ToOriginator } else { CallRefFlag::FromOriginator };
        CallRef { value: value & CallRef::max_value(len), flag, len }
    }

    /// The raw message type octet.
    pub fn message_type_byte(&self) -> u8 {
        self.byte(self.header_len() - 1)
    }

    pub fn message_type(&self) -> MessageType {
        MessageType::from_byte(self.protocol_discriminator(), self.message_type_byte())
    }

    /// The information elements' octets.
    pub fn body(&self) -> &[u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }

    /// Walks the information elements.
    pub fn ies(&self) -> IeIter<'_> {
        IeIter::new(self.body())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Message<T> {
    fn set_byte(&mut self, i: usize, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(i) {
            *b = v;
        }
    }

    pub fn set_protocol_discriminator(&mut self, pd: ProtocolDiscriminator) {
        self.set_byte(0, pd.to_byte());
    }

    /// Writes length octet and call reference value; the following octets
    /// move if the length changes, so set the call reference first.
    pub fn set_call_ref(&mut self, cr: CallRef) {
        let len = cr.len.min(2);
        self.set_byte(1, len);
        let value = cr.value & CallRef::max_value(len);
        let flag = if cr.flag == CallRefFlag::ToOriginator { 0x80 } else { 0 };
        match len {
            1 => self.set_byte(2, flag | value as u8),
            2 => {
                self.set_byte(2, flag | (value >> 8) as u8);
                self.set_byte(3, value as u8);
            }
            _ => {}
        }
    }

    pub fn set_message_type_byte(&mut self, t: u8) {
        let i = self.header_len() - 1;
        self.set_byte(i, t);
    }

    pub fn body_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        self.buffer.as_mut().get_mut(start..).unwrap_or(&mut [])
    }
}

/// One information element as found on the wire, with its codeset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawIeRef<'a> {
    /// The active codeset for this IE.
    pub codeset: u8,
    /// The identifier octet; for single-octet IEs the whole octet.
    pub id: u8,
    /// Contents (empty for single-octet IEs).
    pub data: &'a [u8],
}

impl<'a> RawIeRef<'a> {
    /// The identifier in diagnostic form.
    pub fn ie_id(&self) -> IeId {
        if self.id & 0x80 != 0 { IeId::single_octet(self.codeset, self.id) } else { IeId::new(self.codeset, self.id) }
    }
    pub fn is_single_octet(&self) -> bool {
        self.id & 0x80 != 0
    }
    /// Decodes into an [`IeRepr`] (never fails; see [`IeRepr::parse`]).
    pub fn to_repr(&self) -> IeRepr {
        IeRepr::parse(self.codeset, self.id, self.data)
    }
    pub fn to_owned(&self) -> RawIe {
        RawIe { codeset: self.codeset, id: self.id, data: self.data.to_vec() }
    }
}

/// Iterator over the IEs of a message body, applying shifts.
///
/// Shift IEs are consumed, not yielded. An IE whose length runs past the
/// end yields `Err(IeOverrun)` and ends the walk.
#[derive(Debug, Clone)]
pub struct IeIter<'a> {
    data: &'a [u8],
    locked: u8,
    next_codeset: Option<u8>,
}

impl<'a> IeIter<'a> {
    pub fn new(body: &'a [u8]) -> IeIter<'a> {
        IeIter { data: body, locked: 0, next_codeset: None }
    }

    /// The codeset currently locked in.
    pub fn locked_codeset(&self) -> u8 {
        self.locked
    }
}

impl<'a> Iterator for IeIter<'a> {
    type Item = Result<RawIeRef<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (&id, rest) = self.data.split_first()?;
            if id & 0xF0 == 0x90 {
                self.data = rest;
                let codeset = id & 0x07;
                if id & 0x08 != 0 {
                    self.next_codeset = Some(codeset);
                } else {
                    self.locked = codeset;
                    self.next_codeset = None;
                }
                continue;
            }
            let codeset = self.next_codeset.take().unwrap_or(self.locked);
            if id & 0x80 != 0 {
                self.data = rest;
                return Some(Ok(RawIeRef { codeset, id, data: &[] }));
            }
            let overrun = || Some(Err(Error::IeOverrun(IeId::new(codeset, id))));
            let Some((&len, rest)) = rest.split_first() else {
                self.data = &[];
                return overrun();
            };
            let len = usize::from(len);
            if rest.len() < len {
                self.data = &[];
                return overrun();
            }
            let (data, rest) = rest.split_at(len);
            self.data = rest;
            return Some(Ok(RawIeRef { codeset, id, data }));
        }
    }
}

/// Pseudo codeset that sorts after all others: a repeat indicator not
/// followed by a variable-length IE (single-octet IEs need no shift).
const ORPHAN: u8 = 0xFF;

/// A whole Q.931 message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageRepr {
    pub pd: ProtocolDiscriminator,
    pub call_ref: CallRef,
    pub msg_type: MessageType,
    /// The IEs in wire order (after parsing) or any order (for emitting;
    /// see [`MessageRepr::emit`]). Shifts are implied by each IE's
    /// codeset and never appear here.
    pub ies: Vec<IeRepr>,
}

impl MessageRepr {
    /// A message without IEs.
    pub fn new(pd: ProtocolDiscriminator, call_ref: CallRef, msg_type: MessageType) -> MessageRepr {
        MessageRepr { pd, call_ref, msg_type, ies: Vec::new() }
    }

    /// Adds an IE (builder style).
    pub fn with(mut self, ie: IeRepr) -> MessageRepr {
        self.ies.push(ie);
        self
    }

    /// Decodes a message (the view is checked again here).
    ///
    /// Fails only where Q.931 §5.8.1–5.8.3 ignores the message (header
    /// errors) or the IE framing is broken ([`Error::IeOverrun`]). IE
    /// content problems are kept in place as [`IeRepr::Malformed`] /
    /// [`IeRepr::Unknown`]; see [`MessageRepr::ie_errors`] and
    /// [`MessageRepr::check_mandatory`]. Variable-length IEs of length
    /// zero are dropped: Q.931 §4.5.1 treats them as absent.
    pub fn parse(msg: &Message<&[u8]>) -> Result<MessageRepr, Error> {
        msg.check()?;
        let mut ies = Vec::new();
        for raw in msg.ies() {
            let raw = raw?;
            if !raw.is_single_octet() && raw.data.is_empty() {
                continue;
            }
            ies.push(raw.to_repr());
        }
        Ok(MessageRepr { pd: msg.protocol_discriminator(), call_ref: msg.call_ref(), msg_type: msg.message_type(), ies })
    }

    /// Decodes untrusted bytes.
    pub fn parse_bytes(data: &[u8]) -> Result<MessageRepr, Error> {
        Self::parse(&Message::new_checked(data)?)
    }

    /// The first IE with this identifier.
    pub fn find(&self, id: IeId) -> Option<&IeRepr> {
        self.ies.iter().find(|ie| ie.id() == id)
    }

    /// All IEs with this identifier, in order.
    pub fn find_all(&self, id: IeId) -> impl Iterator<Item = &IeRepr> {
        self.ies.iter().filter(move |ie| ie.id() == id)
    }

    /// The per-IE problems Q.931 §5.8.7 reports with STATUS: unrecognized
    /// IEs (cause 99, or 96 when comprehension is required) and IEs with
    /// invalid contents (cause 100), in order. Whether to report codeset
    /// 5–7 IEs, or unknown codeset-0 IEs the implementation ignores, is
    /// the caller's choice (filter on [`Error::ie`]).
    pub fn ie_errors(&self) -> impl Iterator<Item = Error> + '_ {
        self.ies.iter().filter_map(IeRepr::error)
    }

    /// Checks that each `required` IE is present and decoded: a missing
    /// one gives [`Error::MandatoryIeMissing`] (cause 96), a present but
    /// malformed one [`Error::InvalidIe`] (cause 100, Q.931 §5.8.6.2).
    pub fn check_mandatory(&self, required: &[IeId]) -> Result<(), Error> {
        for &id in required {
            let mut found = self.find_all(id).peekable();
            if found.peek().is_none() {
                return Err(Error::MandatoryIeMissing(id));
            }
            if found.all(|ie| matches!(ie, IeRepr::Malformed(_))) {
                return Err(Error::InvalidIe(id));
            }
        }
        Ok(())
    }

    /// [`check_mandatory`](MessageRepr::check_mandatory) with
    /// [`MessageType::mandatory_ies`]; also reports an unknown message
    /// type (cause 97).
    pub fn validate(&self) -> Result<(), Error> {
        if let MessageType::Unknown(t) = self.msg_type {
            return Err(Error::UnknownMessageType(t));
        }
        self.check_mandatory(self.msg_type.mandatory_ies())
    }

    /// The IEs in emission order: codeset 0 first, then ascending
    /// codesets; within a codeset single-octet IEs first, then ascending
    /// identifier (Q.931 §4.5.1). The sort is stable, so repeated IEs
    /// keep their order, and a repeat indicator stays right before the
    /// variable-length IE that follows it (past other repeat indicators)
    /// in `ies`; one followed by anything else goes last.
    pub fn ordered_ies(&self) -> Vec<&IeRepr> {
        self.ordered().into_iter().map(|(_, ie)| ie).collect()
    }

    /// `(codeset emitted in, IE)` in emission order; [`ORPHAN`] for a
    /// trailing repeat indicator, emitted without a shift.
    fn ordered(&self) -> Vec<(u8, &IeRepr)> {
        let keys: Vec<(u8, u8, u8, u8)> = self
            .ies
            .iter()
            .enumerate()
            .map(|(i, ie)| {
                if matches!(ie, IeRepr::RepeatIndicator(_)) {
                    let target = self.ies[i + 1..].iter().find(|ie| !matches!(ie, IeRepr::RepeatIndicator(_)));
                    match target {
                        Some(next) if !next.is_single_octet() => (next.codeset(), 1, next.id_octet(), 0),
                        // A repeat indicator repeating nothing goes last.
                        _ => (ORPHAN, 0, ie.id_octet(), 1),
                    }
                } else if ie.is_single_octet() {
                    (ie.codeset(), 0, ie.id_octet(), 1)
                } else {
                    (ie.codeset(), 1, ie.id_octet(), 1)
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..self.ies.len()).collect();
        order.sort_by_key(|&i| keys[i]);
        order.into_iter().map(|i| (keys[i].0, &self.ies[i])).collect()
    }

    /// This message with its IEs in emission order: what
    /// `parse_bytes(&to_vec())` gives back.
    pub fn canonical(&self) -> MessageRepr {
        MessageRepr { ies: self.ordered_ies().into_iter().cloned().collect(), ..self.clone() }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(self.pd.to_byte());
        let len = self.call_ref.len.min(2);
        out.push(len);
        let value = self.call_ref.value & CallRef::max_value(len);
        let flag = if self.call_ref.flag == CallRefFlag::ToOriginator { 0x80 } else { 0 };
        match len {
            1 => out.push(flag | value as u8),
            2 => out.extend_from_slice(&[flag | (value >> 8) as u8, value as u8]),
            _ => {}
        }
        out.push(self.msg_type.to_byte(self.pd));
        let ordered = self.ordered();
        let mut locked = 0u8;
        let mut i = 0;
        while i < ordered.len() {
            let cs = ordered[i].0;
            let run = ordered[i..].iter().take_while(|(c, _)| *c == cs).count();
            if cs != locked && cs != ORPHAN {
                if run == 1 {
                    out.push(0x98 | cs);
                } else {
                    out.push(0x90 | cs);
                    locked = cs;
                }
            }
            for (_, ie) in &ordered[i..i + run] {
                ie.encode(out)?;
            }
            i += run;
        }
        Ok(())
    }

    /// Length of the emitted message (0 if an IE is too long to emit).
    pub fn buffer_len(&self) -> usize {
        self.to_vec().map_or(0, |v| v.len())
    }

    /// Writes the message into the view's buffer (which must hold
    /// [`buffer_len`](MessageRepr::buffer_len) octets), ordering IEs and
    /// inserting shifts: a non-locking shift before a lone IE of another
    /// codeset, a locking shift before several.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, msg: &mut Message<T>) -> Result<(), Error> {
        let v = self.to_vec()?;
        let out = msg.buffer.as_mut();
        if out.len() < v.len() {
            return Err(Error::BufferTooSmall);
        }
        out[..v.len()].copy_from_slice(&v);
        Ok(())
    }

    /// Emits into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut v = Vec::new();
        self.encode(&mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ie::facility::{Name, NameStyle};
    use crate::wire::ie::*;

    /// A typical NI-2 SETUP from the CPE: sending complete, speech µ-law,
    /// exclusive channel 1, calling name facility, progress "origination
    /// not ISDN", calling and called numbers, one codeset-6 IE behind a
    /// non-locking shift.
    fn ni2_setup() -> Vec<u8> {
        let mut m = vec![0x08, 0x02, 0x00, 0x01, 0x05, 0xA1];
        m.extend_from_slice(&[0x04, 0x03, 0x80, 0x90, 0xA2]);
        m.extend_from_slice(&[0x18, 0x03, 0xA9, 0x83, 0x81]);
        m.extend_from_slice(&[0x1C, 0x12, 0x9F, 0x8B, 0x01, 0x00, 0xA1, 0x0C, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x80, 0x04]);
        m.extend_from_slice(b"JOHN");
        m.extend_from_slice(&[0x1E, 0x02, 0x81, 0x83]);
        m.extend_from_slice(&[0x6C, 0x0C, 0x21, 0x83]);
        m.extend_from_slice(b"3035550100");
        m.extend_from_slice(&[0x70, 0x0B, 0xA1]);
        m.extend_from_slice(b"2125551234");
        m.extend_from_slice(&[0x9E, 0x7B, 0x01, 0x81]);
        m
    }

    #[test]
    fn parse_ni2_setup() {
        let bytes = ni2_setup();
        let view = Message::new_checked(&bytes[..]).unwrap();
        assert_eq!(view.protocol_discriminator(), ProtocolDiscriminator::Q931);
        assert_eq!(view.call_ref(), CallRef::pri(1, CallRefFlag::FromOriginator));
        assert_eq!(view.message_type(), MessageType::Setup);
        let ids: Vec<IeId> = view.ies().map(|ie| ie.unwrap().ie_id()).collect();
        assert_eq!(
            ids,
            vec![
                IeId::SENDING_COMPLETE,
                IeId::BEARER_CAPABILITY,
                IeId::CHANNEL_ID,
                IeId::FACILITY,
                IeId::PROGRESS_INDICATOR,
                IeId::CALLING_NUMBER,
                IeId::CALLED_NUMBER,
                IeId::new(6, 0x7B),
            ]
        );

        let m = MessageRepr::parse(&view).unwrap();
        assert_eq!(m.validate(), Ok(()));
        let Some(IeRepr::CalledNumber(called)) = m.find(IeId::CALLED_NUMBER) else {
            panic!("no called number");
        };
        assert_eq!(called.digits, "2125551234");
        let Some(IeRepr::Facility(fac)) = m.find(IeId::FACILITY) else {
            panic!("no facility");
        };
        assert_eq!(fac.calling_name(), Some(Name::allowed("JOHN")));
        assert_eq!(
            m.find(IeId::BEARER_CAPABILITY),
            Some(&IeRepr::BearerCapability(BearerCapabilityRepr::voice(InfoTransferCapability::Speech, Layer1Protocol::G711Ulaw)))
        );
        // The codeset-6 IE is kept and is the only "unrecognized" one.
        let errs: Vec<_> = m.ie_errors().collect();
        assert_eq!(errs, vec![Error::UnrecognizedIe(IeId::new(6, 0x7B))]);
        // Byte-exact re-emission.
        assert_eq!(m.to_vec().unwrap(), bytes);
        assert_eq!(m.buffer_len(), bytes.len());
    }

    #[test]
    fn build_setup_in_any_order() {
        let m = MessageRepr::new(ProtocolDiscriminator::Q931, CallRef::pri(1, CallRefFlag::FromOriginator), MessageType::Setup)
            .with(IeRepr::Unknown(RawIe { codeset: 6, id: 0x7B, data: vec![0x81] }))
            .with(IeRepr::CalledNumber(PartyNumberRepr::new(TypeOfNumber::National, NumberingPlan::Isdn, "2125551234")))
            .with(IeRepr::CallingNumber(
                PartyNumberRepr::new(TypeOfNumber::National, NumberingPlan::Isdn, "3035550100")
                    .with_presentation(Presentation::Allowed, Screening::NetworkProvided),
            ))
            .with(IeRepr::ProgressIndicator(ProgressIndicatorRepr::new(Location::PrivateLocal, ProgressDescription::OriginationNotIsdn)))
            .with(IeRepr::Facility(FacilityRepr::with_calling_name(NameStyle::Ni2, 1, &Name::allowed("JOHN"))))
            .with(IeRepr::ChannelId(ChannelIdRepr::pri_channel(1, true)))
            .with(IeRepr::BearerCapability(BearerCapabilityRepr::voice(InfoTransferCapability::Speech, Layer1Protocol::G711Ulaw)))
            .with(IeRepr::SendingComplete);
        assert_eq!(m.to_vec().unwrap(), ni2_setup());
        let back = MessageRepr::parse_bytes(&ni2_setup()).unwrap();
        assert_eq!(back, m.canonical());
        let mut buf = vec![0u8; m.buffer_len()];
        m.emit(&mut Message::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(buf, ni2_setup());
        assert_eq!(m.emit(&mut Message::new_unchecked(&mut buf[..10])), Err(Error::BufferTooSmall));
    }

    #[test]
    fn restart_and_service() {
        // RESTART of channel 5 from the network, global call reference.
        let bytes = [0x08, 0x02, 0x80, 0x00, 0x46, 0x18, 0x03, 0xA9, 0x83, 0x85, 0x79, 0x01, 0x80];
        let m = MessageRepr::parse_bytes(&bytes).unwrap();
        assert!(m.call_ref.is_global());
        assert_eq!(m.call_ref.flag, CallRefFlag::ToOriginator);
        assert_eq!(m.msg_type, MessageType::Restart);
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(m.to_vec().unwrap(), bytes);

        // AT&T maintenance SERVICE (0x0F) taking channel 3 out of service.
        let bytes = [0x03, 0x02, 0x00, 0x00, 0x0F, 0x01, 0x01, 0xC2, 0x18, 0x03, 0xA9, 0x83, 0x83];
        let m = MessageRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(m.pd, ProtocolDiscriminator::AttMaintenance);
        assert_eq!(m.msg_type, MessageType::Service);
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(m.to_vec().unwrap(), bytes);
        // NI-2 national maintenance: the codes are mirrored.
        assert_eq!(MessageType::from_byte(ProtocolDiscriminator::NationalMaintenance, 0x07), MessageType::Service);
        assert_eq!(MessageType::from_byte(ProtocolDiscriminator::NationalMaintenance, 0x0F), MessageType::ServiceAcknowledge);
        assert_eq!(MessageType::from_byte(ProtocolDiscriminator::AttMaintenance, 0x07), MessageType::ServiceAcknowledge);
        assert_eq!(MessageType::ServiceAcknowledge.to_byte(ProtocolDiscriminator::NationalMaintenance), 0x0F);
        assert_eq!(MessageType::from_byte(ProtocolDiscriminator::Q931, 0x0F), MessageType::ConnectAcknowledge);
    }

    #[test]
    fn message_type_codes_round_trip() {
        for b in 0..=255u8 {
            for pd in [
                ProtocolDiscriminator::Q931,
                ProtocolDiscriminator::AttMaintenance,
                ProtocolDiscriminator::NationalMaintenance,
                ProtocolDiscriminator::Other(0x41),
            ] {
                assert_eq!(MessageType::from_byte(pd, b).to_byte(pd), b);
            }
        }
        assert_eq!(MessageType::from_byte(ProtocolDiscriminator::Q931, 0x5A), MessageType::ReleaseComplete);
        assert_eq!(MessageType::ReleaseComplete.name(), "RELEASE COMPLETE");
    }

    #[test]
    fn status_and_disconnect() {
        // STATUS: cause 100 for channel id, call state 10 (active).
        let bytes = [0x08, 0x02, 0x80, 0x01, 0x7D, 0x08, 0x03, 0x80, 0xE4, 0x18, 0x14, 0x01, 0x0A];
        let m = MessageRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(m.msg_type, MessageType::Status);
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(m.to_vec().unwrap(), bytes);
        // DISCONNECT without cause: mandatory IE missing.
        let d = MessageRepr::parse_bytes(&[0x08, 0x02, 0x00, 0x01, 0x45]).unwrap();
        let err = d.validate().unwrap_err();
        assert_eq!(err, Error::MandatoryIeMissing(IeId::CAUSE));
        assert_eq!(err.cause(), Some(CauseValue::MANDATORY_IE_MISSING));
        // DISCONNECT with a broken cause: invalid contents of a mandatory IE.
        let d = MessageRepr::parse_bytes(&[0x08, 0x02, 0x00, 0x01, 0x45, 0x08, 0x01, 0x80]).unwrap();
        assert_eq!(d.validate(), Err(Error::InvalidIe(IeId::CAUSE)));
        assert_eq!(d.ie_errors().next(), Some(Error::InvalidIe(IeId::CAUSE)));
        // Unknown message type.
        let u = MessageRepr::parse_bytes(&[0x08, 0x02, 0x00, 0x01, 0x33]).unwrap();
        assert_eq!(u.validate(), Err(Error::UnknownMessageType(0x33)));
        let c = CauseRepr::for_error(&Error::UnknownMessageType(0x33), Location::User).unwrap();
        assert_eq!(c.diagnostics, vec![0x33]);
    }

    #[test]
    fn header_errors() {
        assert_eq!(MessageRepr::parse_bytes(&[]), Err(Error::MessageTooShort));
        assert_eq!(MessageRepr::parse_bytes(&[0x08, 0x02]), Err(Error::MessageTooShort));
        assert_eq!(MessageRepr::parse_bytes(&[0x08, 0x02, 0x00, 0x01]), Err(Error::MessageTooShort));
        assert_eq!(MessageRepr::parse_bytes(&[0x08, 0x03, 0, 0, 0, 0x05]), Err(Error::CallRefLength(3)));
        assert_eq!(MessageRepr::parse_bytes(&[0x08, 0x12, 0, 0, 0x05]), Err(Error::CallRefLength(0x12)));
        // Dummy and one-octet call references.
        let m = MessageRepr::parse_bytes(&[0x08, 0x00, 0x62]).unwrap();
        assert!(m.call_ref.is_dummy());
        assert_eq!(m.to_vec().unwrap(), vec![0x08, 0x00, 0x62]);
        let m = MessageRepr::parse_bytes(&[0x08, 0x01, 0x85, 0x4D]).unwrap();
        assert_eq!(m.call_ref, CallRef { value: 5, flag: CallRefFlag::ToOriginator, len: 1 });
        assert_eq!(m.call_ref.reversed().flag, CallRefFlag::FromOriginator);
        assert_eq!(m.to_vec().unwrap(), vec![0x08, 0x01, 0x85, 0x4D]);
    }

    #[test]
    fn ie_overrun() {
        let bytes = [0x08, 0x02, 0x00, 0x01, 0x05, 0x04, 0x03, 0x80, 0x90];
        let err = MessageRepr::parse_bytes(&bytes).unwrap_err();
        assert_eq!(err, Error::IeOverrun(IeId::BEARER_CAPABILITY));
        assert_eq!(err.cause(), Some(CauseValue::INVALID_IE_CONTENTS));
        // Identifier without a length octet.
        let bytes = [0x08, 0x02, 0x00, 0x01, 0x05, 0x04];
        assert_eq!(MessageRepr::parse_bytes(&bytes), Err(Error::IeOverrun(IeId::BEARER_CAPABILITY)));
    }

    #[test]
    fn shifts() {
        let view = |body: &[u8]| {
            let mut m = vec![0x08, 0x02, 0x00, 0x01, 0x7B];
            m.extend_from_slice(body);
            m
        };
        let ids = |bytes: &[u8]| -> Vec<IeId> { Message::new_checked(bytes).unwrap().ies().map(|i| i.unwrap().ie_id()).collect() };
        // Locking shift to 6, then a non-locking shift to 0 for one IE,
        // then back in codeset 6.
        let b = view(&[0x96, 0x7B, 0x01, 0x81, 0x98, 0x28, 0x01, b'A', 0x7C, 0x01, 0x80]);
        assert_eq!(ids(&b), vec![IeId::new(6, 0x7B), IeId::DISPLAY, IeId::new(6, 0x7C)]);
        // Non-locking followed directly by locking: the locking one wins.
        let b = view(&[0x9D, 0x96, 0x28, 0x01, b'A']);
        assert_eq!(ids(&b), vec![IeId::new(6, 0x28)]);
        // Single-octet IE after a shift is still decoded.
        let b = view(&[0x96, 0xA1]);
        assert_eq!(MessageRepr::parse_bytes(&b).unwrap().ies, vec![IeRepr::SendingComplete]);
        // Emission: two codeset-6 IEs get a locking shift, a lone codeset-5
        // IE a non-locking one.
        let m = MessageRepr::new(ProtocolDiscriminator::Q931, CallRef::pri(1, CallRefFlag::FromOriginator), MessageType::Information)
            .with(IeRepr::Unknown(RawIe { codeset: 6, id: 0x7C, data: vec![0x80] }))
            .with(IeRepr::Unknown(RawIe { codeset: 5, id: 0x1D, data: vec![0x81] }))
            .with(IeRepr::Unknown(RawIe { codeset: 6, id: 0x7B, data: vec![0x81] }))
            .with(IeRepr::KeypadFacility(KeypadFacilityRepr { digits: "5".into() }));
        assert_eq!(m.to_vec().unwrap(), view(&[0x2C, 0x01, b'5', 0x9D, 0x1D, 0x01, 0x81, 0x96, 0x7B, 0x01, 0x81, 0x7C, 0x01, 0x80]));
        assert_eq!(MessageRepr::parse_bytes(&m.to_vec().unwrap()).unwrap(), m.canonical());
    }

    #[test]
    fn repeat_indicator_stays_with_its_ies() {
        let bc = |law| IeRepr::BearerCapability(BearerCapabilityRepr::voice(InfoTransferCapability::Speech, law));
        let m = MessageRepr::new(ProtocolDiscriminator::Q931, CallRef::pri(9, CallRefFlag::FromOriginator), MessageType::Setup)
            .with(IeRepr::ChannelId(ChannelIdRepr::pri_any()))
            .with(IeRepr::RepeatIndicator(2))
            .with(bc(Layer1Protocol::G711Ulaw))
            .with(bc(Layer1Protocol::G711Alaw));
        let bytes = m.to_vec().unwrap();
        assert_eq!(&bytes[5..], &[0xD2, 0x04, 0x03, 0x80, 0x90, 0xA2, 0x04, 0x03, 0x80, 0x90, 0xA3, 0x18, 0x01, 0xA3]);
        let back = MessageRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(back, m.canonical());
        assert_eq!(back.find_all(IeId::BEARER_CAPABILITY).count(), 2);
    }

    #[test]
    fn empty_ie_is_absent() {
        let bytes = [0x08, 0x02, 0x00, 0x01, 0x05, 0x04, 0x03, 0x80, 0x90, 0xA2, 0x70, 0x00];
        let m = MessageRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(m.ies.len(), 1);
        assert!(m.find(IeId::CALLED_NUMBER).is_none());
    }

    #[test]
    fn view_setters() {
        let mut bytes = ni2_setup();
        let mut v = Message::new_checked(&mut bytes[..]).unwrap();
        v.set_call_ref(CallRef::pri(0x1234, CallRefFlag::ToOriginator));
        v.set_message_type_byte(0x7B);
        v.set_protocol_discriminator(ProtocolDiscriminator::Q931);
        assert_eq!(v.call_ref(), CallRef::pri(0x1234, CallRefFlag::ToOriginator));
        assert_eq!(v.message_type(), MessageType::Information);
        assert_eq!(&bytes[..5], &[0x08, 0x02, 0x92, 0x34, 0x7B]);
    }

    #[test]
    fn ie_too_long_is_reported() {
        let m = MessageRepr::new(ProtocolDiscriminator::Q931, CallRef::dummy(), MessageType::Information)
            .with(IeRepr::KeypadFacility(KeypadFacilityRepr { digits: "1".repeat(256) }));
        assert_eq!(m.to_vec(), Err(Error::IeTooLong(IeId::KEYPAD_FACILITY)));
        assert_eq!(m.buffer_len(), 0);
    }
}
