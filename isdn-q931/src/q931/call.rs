//! One call: its side-neutral phase, channel, timers and what it needs for
//! retransmission.
//!
//! Q.931 numbers call states from the point of view of a call the *user*
//! originated: U1 is "SETUP sent" on the user side but N1 is "SETUP
//! received" on the network side. The state machine is written once, in
//! terms of [`Phase`] (outgoing = this stack sent the SETUP), and
//! [`Phase::state`] gives the U- or N-state for the side.

use std::time::{Duration, Instant};

use super::types::{CallId, CallState, Cause, ChannelRef, Side};
use super::variant::Timers;

/// Where a call is, seen from this stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Null,
    /// We sent SETUP (U1 / N6).
    OutSetupSent,
    /// Our SETUP was acknowledged; we send digits (U2 / N25).
    OutOverlap,
    /// CALL PROCEEDING received (U3 / N9).
    OutProceeding,
    /// ALERTING received (U4 / N7).
    OutAlerting,
    /// CONNECT received (N8, transient: CONNECT ACKNOWLEDGE goes out at
    /// once).
    OutConnectReceived,
    /// SETUP received, not answered yet (U6 / N1).
    InSetupReceived,
    /// SETUP ACKNOWLEDGE sent; we collect digits (U25 / N2).
    InOverlap,
    /// CALL PROCEEDING sent (U9 / N3).
    InProceeding,
    /// ALERTING sent (U7 / N4).
    InAlerting,
    /// CONNECT sent, awaiting CONNECT ACKNOWLEDGE (U8; the network side
    /// goes active at once).
    InConnectSent,
    Active,
    /// DISCONNECT sent (U11 / N12).
    DisconnectSent,
    /// DISCONNECT received, RELEASE not sent yet (U12 / N11).
    DisconnectReceived,
    /// RELEASE sent (19).
    ReleaseSent,
    /// Network only: we cleared our SETUP before any answer and wait for
    /// one to release it (N22).
    Abort,
}

impl Phase {
    /// The Q.931 call state for this side.
    pub fn state(self, side: Side) -> CallState {
        use CallState as S;
        let user = side == Side::User;
        match self {
            Phase::Null => S::Null,
            Phase::OutSetupSent => pick(user, S::CallInitiated, S::CallPresent),
            Phase::OutOverlap => pick(user, S::OverlapSending, S::OverlapReceiving),
            Phase::OutProceeding => pick(user, S::OutgoingCallProceeding, S::IncomingCallProceeding),
            Phase::OutAlerting => pick(user, S::CallDelivered, S::CallReceived),
            Phase::OutConnectReceived => pick(user, S::Active, S::ConnectRequest),
            Phase::InSetupReceived => pick(user, S::CallPresent, S::CallInitiated),
            Phase::InOverlap => pick(user, S::OverlapReceiving, S::OverlapSending),
            Phase::InProceeding => pick(user, S::IncomingCallProceeding, S::OutgoingCallProceeding),
            Phase::InAlerting => pick(user, S::CallReceived, S::CallDelivered),
            Phase::InConnectSent => pick(user, S::ConnectRequest, S::Active),
            Phase::Active => S::Active,
            Phase::DisconnectSent => pick(user, S::DisconnectRequest, S::DisconnectIndication),
            Phase::DisconnectReceived => pick(user, S::DisconnectIndication, S::DisconnectRequest),
            Phase::ReleaseSent => S::ReleaseRequest,
            Phase::Abort => S::CallAbort,
        }
    }

    /// The phase of an entity on `side` that reports `state` (inverse of
    /// [`Phase::state`]); `None` for states this stack never enters
    /// (suspend, resume, or a number Q.931 does not define for that side).
    pub fn from_state(side: Side, state: u8) -> Option<Phase> {
        let user = side == Side::User;
        Some(match (state, user) {
            (0, _) => Phase::Null,
            (1, true) | (6, false) => Phase::OutSetupSent,
            (2, true) | (25, false) => Phase::OutOverlap,
            (3, true) | (9, false) => Phase::OutProceeding,
            (4, true) | (7, false) => Phase::OutAlerting,
            (8, false) => Phase::OutConnectReceived,
            (6, true) | (1, false) => Phase::InSetupReceived,
            (25, true) | (2, false) => Phase::InOverlap,
            (9, true) | (3, false) => Phase::InProceeding,
            (7, true) | (4, false) => Phase::InAlerting,
            (8, true) => Phase::InConnectSent,
            (10, _) => Phase::Active,
            (11, true) | (12, false) => Phase::DisconnectSent,
            (12, true) | (11, false) => Phase::DisconnectReceived,
            (19, _) => Phase::ReleaseSent,
            (22, false) => Phase::Abort,
            _ => return None,
        })
    }

    /// Clearing phases.
    pub fn is_clearing(self) -> bool {
        matches!(self, Phase::DisconnectSent | Phase::DisconnectReceived | Phase::ReleaseSent | Phase::Abort)
    }

    /// `(we sent the SETUP, progress rank 1..=6)` for establishment phases
    /// (rank: setup 1, overlap 2, proceeding 3, alerting 4, connect sent
    /// 5, active/connect received 6); `None` otherwise. Active needs the
    /// call direction from outside.
    fn rank(self) -> Option<(Option<bool>, u8)> {
        Some(match self {
            Phase::OutSetupSent => (Some(true), 1),
            Phase::OutOverlap => (Some(true), 2),
            Phase::OutProceeding => (Some(true), 3),
            Phase::OutAlerting => (Some(true), 4),
            Phase::OutConnectReceived => (Some(true), 6),
            Phase::InSetupReceived => (Some(false), 1),
            Phase::InOverlap => (Some(false), 2),
            Phase::InProceeding => (Some(false), 3),
            Phase::InAlerting => (Some(false), 4),
            Phase::InConnectSent => (Some(false), 5),
            Phase::Active => (None, 6),
            _ => return None,
        })
    }
}

fn pick(user: bool, u: CallState, n: CallState) -> CallState {
    if user { u } else { n }
}

/// Whether the peer (on `side.peer()`) may be in state `peer_state` while
/// we are in `ours` on a call we originated (`originated`), given that
/// messages cross on the link. This is the implementation decision Q.931
/// §5.8.11 leaves open, derived from who moves first:
///
/// * the called side changes state when it *sends* SETUP ACKNOWLEDGE,
///   CALL PROCEEDING, ALERTING, CONNECT, and the caller when it
///   *receives* them, so the called side is never behind the caller —
///   except that the caller goes active on CONNECT while a user-side
///   callee waits for CONNECT ACKNOWLEDGE (caller 6, callee 5), and a
///   user-side callee is active only once the caller is;
/// * both sides cannot have originated the call (nor both received it);
/// * clearing on either side is compatible with anything (the clearing
///   message may be in flight);
/// * states this stack cannot be in (suspend, resume, REST) are not.
///
/// The Null state is handled by the caller (Q.931 §5.8.11 exceptions).
pub fn compatible(side: Side, ours: Phase, originated: bool, peer_state: u8) -> bool {
    let Some(peer) = Phase::from_state(side.peer(), peer_state) else {
        return false;
    };
    if ours.is_clearing() || peer.is_clearing() {
        return true;
    }
    let (Some((our_dir, our_rank)), Some((peer_dir, peer_rank))) = (ours.rank(), peer.rank()) else {
        return false;
    };
    let we_caller = our_dir.unwrap_or(originated);
    if let Some(peer_caller) = peer_dir
        && peer_caller == we_caller
    {
        return false;
    }
    let (caller, callee, callee_side) = if we_caller { (our_rank, peer_rank, side.peer()) } else { (peer_rank, our_rank, side) };
    // A user-side callee goes active on CONNECT ACKNOWLEDGE, i.e. after
    // the caller; a network-side callee as it sends CONNECT.
    if callee == 6 && callee_side == Side::User && caller != 6 {
        return false;
    }
    caller <= callee || (caller == 6 && callee == 5)
}

/// The per-state supervision timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    T301,
    T302,
    T303,
    T304,
    T305,
    T306,
    T308,
    T310,
    T313,
}

impl Timer {
    pub fn duration(self, t: &Timers) -> Duration {
        match self {
            Timer::T301 => t.t301,
            Timer::T302 => t.t302,
            Timer::T303 => t.t303,
            Timer::T304 => t.t304,
            Timer::T305 => t.t305,
            Timer::T306 => t.t306,
            Timer::T308 => t.t308,
            Timer::T310 => t.t310,
            Timer::T313 => t.t313,
        }
    }
}

/// A call in progress.
#[derive(Debug, Clone)]
pub struct Call {
    pub id: CallId,
    /// Call reference value (without the flag).
    pub cr: u16,
    /// Call reference length used on the wire.
    pub cr_len: u8,
    /// We sent the SETUP (and allocated the call reference).
    pub originated: bool,
    pub phase: Phase,
    /// The B-channel held; `None` only for an outgoing call whose channel
    /// was taken by the network's call (glare) before the first answer.
    pub channel: Option<ChannelRef>,
    /// Our SETUP offered the channel as exclusive.
    pub exclusive: bool,
    /// The channel is agreed: first answer to SETUP received or sent.
    pub confirmed: bool,
    /// The state timer running.
    pub timer: Option<(Timer, Instant)>,
    pub t309: Option<Instant>,
    pub t322: Option<Instant>,
    /// Expiries of the current retransmitting timer (T303, T308).
    pub expiries: u8,
    /// STATUS ENQUIRY transmissions of the current enquiry.
    pub enquiries: u8,
    /// The encoded SETUP, for the T303 retransmission.
    pub setup: Option<Vec<u8>>,
    /// The cause of the clearing, fixed by whoever started it; reported
    /// in Released and repeated in RELEASE on T305 expiry.
    pub cause: Option<Cause>,
}

impl Call {
    pub fn new(id: CallId, cr: u16, cr_len: u8, originated: bool, phase: Phase) -> Call {
        Call {
            id,
            cr,
            cr_len,
            originated,
            phase,
            channel: None,
            exclusive: false,
            confirmed: false,
            timer: None,
            t309: None,
            t322: None,
            expiries: 0,
            enquiries: 0,
            setup: None,
            cause: None,
        }
    }

    /// The earliest deadline of this call.
    pub fn deadline(&self) -> Option<Instant> {
        [self.timer.map(|(_, t)| t), self.t309, self.t322].into_iter().flatten().min()
    }

    /// Heap octets owned by this call.
    pub fn heap_bytes(&self) -> usize {
        self.setup.as_ref().map_or(0, Vec::capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Phase; 16] = [
        Phase::Null,
        Phase::OutSetupSent,
        Phase::OutOverlap,
        Phase::OutProceeding,
        Phase::OutAlerting,
        Phase::OutConnectReceived,
        Phase::InSetupReceived,
        Phase::InOverlap,
        Phase::InProceeding,
        Phase::InAlerting,
        Phase::InConnectSent,
        Phase::Active,
        Phase::DisconnectSent,
        Phase::DisconnectReceived,
        Phase::ReleaseSent,
        Phase::Abort,
    ];

    #[test]
    fn state_numbers_round_trip() {
        for side in [Side::User, Side::Network] {
            for p in ALL {
                let s = p.state(side);
                // Transient phases map onto a neighbour's number.
                if matches!((side, p), (Side::User, Phase::OutConnectReceived) | (Side::Network, Phase::InConnectSent) | (Side::User, Phase::Abort)) {
                    continue;
                }
                assert_eq!(Phase::from_state(side, s.number()), Some(p), "{side:?} {p:?}");
            }
        }
        assert_eq!(Phase::OutSetupSent.state(Side::User).number(), 1);
        assert_eq!(Phase::OutSetupSent.state(Side::Network).number(), 6);
        assert_eq!(Phase::DisconnectSent.state(Side::Network).number(), 12);
        assert_eq!(Phase::InOverlap.state(Side::User).number(), 25);
    }

    #[test]
    fn compatibility_rules() {
        // User sent SETUP (U1); the network may be anywhere up to active.
        for n in [1, 2, 3, 4, 10, 11, 12, 19] {
            assert!(compatible(Side::User, Phase::OutSetupSent, true, n), "N{n}");
        }
        // ... but not in an incoming-call state.
        for n in [6, 7, 9, 25, 8] {
            assert!(!compatible(Side::User, Phase::OutSetupSent, true, n), "N{n}");
        }
        // The network answered (N10); the user can still be in U1..U4.
        assert!(compatible(Side::Network, Phase::Active, false, 1));
        // User U8 waits for CONNECT ACK; network N10 is compatible, N7 too
        // (CONNECT in flight), N6 too.
        assert!(compatible(Side::User, Phase::InConnectSent, false, 10));
        assert!(compatible(Side::User, Phase::InConnectSent, false, 7));
        // User active on an incoming call: the network must be active.
        assert!(!compatible(Side::User, Phase::Active, false, 7));
        assert!(compatible(Side::User, Phase::Active, false, 10));
        // Network active on its own call: the user is U8 or U10.
        assert!(compatible(Side::Network, Phase::Active, true, 8));
        assert!(!compatible(Side::Network, Phase::Active, true, 7));
        // Suspend/resume and REST states are never compatible.
        assert!(!compatible(Side::User, Phase::Active, true, 15));
        assert!(!compatible(Side::User, Phase::Active, true, 61));
        // Clearing in flight is.
        assert!(compatible(Side::User, Phase::DisconnectSent, true, 10));
        assert!(compatible(Side::User, Phase::Active, true, 12));
    }
}
