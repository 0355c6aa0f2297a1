//! The B-channel allocator over the interfaces of one D-channel group.

use super::config::{HuntOrder, InterfaceConfig};
use super::types::{CallId, ChannelRef};

/// The state of one B-channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChannelStatus {
    /// The call holding the channel.
    pub owner: Option<CallId>,
    /// A RESTART we sent for it awaits acknowledgement (or the channel
    /// waits for one after a T308 failure).
    pub restarting: bool,
    /// Taken out of service by SERVICE (either side).
    pub out_of_service: bool,
    /// Blocked locally (operator maintenance, no message to the peer): no
    /// new call takes it; a preferred request for it is moved to another
    /// channel, an exclusive one refused.
    pub blocked: bool,
}

impl ChannelStatus {
    /// Usable for a new call.
    pub fn is_free(&self) -> bool {
        self.owner.is_none() && !self.restarting && !self.out_of_service && !self.blocked
    }
}

#[derive(Debug, Clone)]
struct Interface {
    id: u8,
    /// Indexed by channel number; `None` for numbers that are not
    /// B-channels of this span (0, the D-channel slot).
    slots: Vec<Option<ChannelStatus>>,
}

/// Why a channel cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimError {
    /// No such interface or not a B-channel of it (cause 82).
    NoSuchChannel,
    /// In use, restarting or out of service (cause 44).
    Unavailable,
}

/// Tracks every B-channel of the configured interfaces.
#[derive(Debug, Clone)]
pub struct ChannelAllocator {
    interfaces: Vec<Interface>,
}

impl ChannelAllocator {
    pub fn new(config: &[InterfaceConfig]) -> ChannelAllocator {
        let interfaces = config
            .iter()
            .map(|i| {
                let chans = i.kind.b_channels(i.d_channel);
                let max = chans.iter().copied().max().unwrap_or(0);
                let mut slots = vec![None; usize::from(max) + 1];
                for c in chans {
                    slots[usize::from(c)] = Some(ChannelStatus::default());
                }
                Interface { id: i.id, slots }
            })
            .collect();
        ChannelAllocator { interfaces }
    }

    fn slot(&self, ch: ChannelRef) -> Option<&ChannelStatus> {
        self.interfaces.iter().find(|i| i.id == ch.interface)?.slots.get(usize::from(ch.channel))?.as_ref()
    }

    fn slot_mut(&mut self, ch: ChannelRef) -> Option<&mut ChannelStatus> {
        self.interfaces.iter_mut().find(|i| i.id == ch.interface)?.slots.get_mut(usize::from(ch.channel))?.as_mut()
    }

    /// Whether `ch` is a B-channel of a configured interface.
    pub fn exists(&self, ch: ChannelRef) -> bool {
        self.slot(ch).is_some()
    }

    /// Whether an interface with this identifier is configured.
    pub fn has_interface(&self, id: u8) -> bool {
        self.interfaces.iter().any(|i| i.id == id)
    }

    /// The status of a channel.
    pub fn status(&self, ch: ChannelRef) -> Option<ChannelStatus> {
        self.slot(ch).copied()
    }

    /// Whether `ch` can be taken by a new call.
    pub fn is_free(&self, ch: ChannelRef) -> bool {
        self.slot(ch).is_some_and(ChannelStatus::is_free)
    }

    /// Every B-channel, interface by interface, ascending.
    pub fn all(&self) -> Vec<ChannelRef> {
        self.interfaces.iter().flat_map(|i| i.slots.iter().enumerate().filter(|(_, s)| s.is_some()).map(move |(c, _)| ChannelRef::new(i.id, c as u8))).collect()
    }

    /// The B-channels of one interface, ascending (empty if unknown).
    pub fn of_interface(&self, id: u8) -> Vec<ChannelRef> {
        self.all().into_iter().filter(|c| c.interface == id).collect()
    }

    /// Interface identifiers in configuration order.
    pub fn interface_ids(&self) -> Vec<u8> {
        self.interfaces.iter().map(|i| i.id).collect()
    }

    /// The first free channel in hunting order.
    pub fn hunt(&self, order: HuntOrder) -> Option<ChannelRef> {
        let mut all = self.all();
        if order == HuntOrder::Descending {
            all.reverse();
        }
        all.into_iter().find(|&c| self.is_free(c))
    }

    /// Takes a free channel for `call`.
    pub fn claim(&mut self, ch: ChannelRef, call: CallId) -> Result<(), ClaimError> {
        let slot = self.slot_mut(ch).ok_or(ClaimError::NoSuchChannel)?;
        if !slot.is_free() {
            return Err(ClaimError::Unavailable);
        }
        slot.owner = Some(call);
        Ok(())
    }

    /// Gives a channel to `call` whatever its owner (B-channel glare: the
    /// network side wins). Returns the previous owner.
    pub fn seize(&mut self, ch: ChannelRef, call: CallId) -> Option<CallId> {
        let slot = self.slot_mut(ch)?;
        slot.owner.replace(call)
    }

    /// Frees `ch` if `call` holds it.
    pub fn release(&mut self, ch: ChannelRef, call: CallId) {
        if let Some(slot) = self.slot_mut(ch)
            && slot.owner == Some(call)
        {
            slot.owner = None;
        }
    }

    /// Marks a channel as restarting (or not).
    pub fn set_restarting(&mut self, ch: ChannelRef, restarting: bool) {
        if let Some(slot) = self.slot_mut(ch) {
            slot.restarting = restarting;
        }
    }

    /// Marks a channel in or out of service.
    pub fn set_out_of_service(&mut self, ch: ChannelRef, oos: bool) {
        if let Some(slot) = self.slot_mut(ch) {
            slot.out_of_service = oos;
        }
    }

    /// Blocks (or unblocks) a channel locally. A call holding it goes on;
    /// the channel takes no new call until unblocked.
    pub fn set_blocked(&mut self, ch: ChannelRef, blocked: bool) {
        if let Some(slot) = self.slot_mut(ch) {
            slot.blocked = blocked;
        }
    }

    /// Channels held by a call, restarting, and out of service.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for s in self.interfaces.iter().flat_map(|i| i.slots.iter().flatten()) {
            c.0 += usize::from(s.owner.is_some());
            c.1 += usize::from(s.restarting);
            c.2 += usize::from(s.out_of_service);
        }
        c
    }

    /// Every channel and its owner, for consistency checks.
    pub fn owners(&self) -> Vec<(ChannelRef, CallId)> {
        self.all().into_iter().filter_map(|c| Some((c, self.slot(c)?.owner?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::InterfaceKind;
    use super::*;

    #[test]
    fn t1_e1_and_nfas_channels() {
        let a = ChannelAllocator::new(&[InterfaceConfig::new(0, InterfaceKind::T1, true)]);
        assert_eq!(a.all().len(), 23);
        assert!(!a.exists(ChannelRef::new(0, 24)));
        let e = ChannelAllocator::new(&[InterfaceConfig::new(0, InterfaceKind::E1, true)]);
        assert_eq!(e.all().len(), 30);
        assert!(!e.exists(ChannelRef::new(0, 16)));
        assert!(e.exists(ChannelRef::new(0, 31)));
        let n = ChannelAllocator::new(&[
            InterfaceConfig::new(0, InterfaceKind::T1, true),
            InterfaceConfig::new(1, InterfaceKind::T1, false),
            InterfaceConfig::new(2, InterfaceKind::T1, true),
        ]);
        assert_eq!(n.all().len(), 23 + 24 + 23);
        assert!(n.exists(ChannelRef::new(1, 24)));
        assert_eq!(n.hunt(HuntOrder::Descending), Some(ChannelRef::new(2, 23)));
        assert_eq!(n.hunt(HuntOrder::Ascending), Some(ChannelRef::new(0, 1)));
    }

    #[test]
    fn claim_release_seize() {
        let mut a = ChannelAllocator::new(&[InterfaceConfig::new(3, InterfaceKind::T1, true)]);
        let ch = ChannelRef::new(3, 1);
        assert_eq!(a.claim(ch, CallId(1)), Ok(()));
        assert_eq!(a.claim(ch, CallId(2)), Err(ClaimError::Unavailable));
        assert_eq!(a.claim(ChannelRef::new(3, 24), CallId(2)), Err(ClaimError::NoSuchChannel));
        assert_eq!(a.hunt(HuntOrder::Ascending), Some(ChannelRef::new(3, 2)));
        a.release(ch, CallId(2));
        assert!(!a.is_free(ch), "only the owner frees");
        assert_eq!(a.seize(ch, CallId(2)), Some(CallId(1)));
        a.release(ch, CallId(2));
        assert!(a.is_free(ch));
        a.set_out_of_service(ch, true);
        assert!(!a.is_free(ch));
        assert_eq!(a.counts(), (0, 0, 1));
    }

    #[test]
    fn blocked_channels_are_not_hunted_or_claimed_until_unblocked() {
        let mut a = ChannelAllocator::new(&[InterfaceConfig::new(0, InterfaceKind::T1, true)]);
        let (one, two) = (ChannelRef::new(0, 1), ChannelRef::new(0, 2));
        a.set_blocked(one, true);
        assert_eq!(a.hunt(HuntOrder::Ascending), Some(two));
        assert_eq!(a.claim(one, CallId(1)), Err(ClaimError::Unavailable));
        assert!(a.status(one).is_some_and(|s| s.blocked));
        a.set_blocked(one, false);
        assert_eq!(a.claim(one, CallId(1)), Ok(()));
    }
}
