//! Span groups: hunting a free channel for an outbound call over the
//! channels of one or more interfaces.
//!
//! A group lists its member interfaces in order; their channels, each
//! member's in ascending (span, position) order, make one list that the
//! strategy walks:
//!
//! * `ascending`: the first idle channel;
//! * `descending`: the last idle channel (the other end of the list, the
//!   usual choice facing a peer that hunts ascending, to avoid glare);
//! * `round_robin`: the first idle channel after the one picked last,
//!   wrapping around;
//! * `lru`: the idle channel whose last pick is oldest (never picked
//!   first), ties in list order.
//!
//! Only [`ChannelState::Idle`] channels are taken: busy, in alarm, out of
//! service, in maintenance and those of an interface whose signalling is
//! down are skipped. No idle channel: the caller releases the leg with
//! cause 34 ([`super::Tdm::originate`] does).

use std::collections::HashMap;

use super::{ChannelAddr, ChannelInfo, ChannelState};
use crate::config::pri::{GroupConfig, HuntName};

/// How a group picks among idle channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HuntStrategy {
    #[default]
    Ascending,
    Descending,
    RoundRobin,
    LeastRecentlyUsed,
}

impl From<HuntName> for HuntStrategy {
    fn from(h: HuntName) -> HuntStrategy {
        match h {
            HuntName::Ascending => HuntStrategy::Ascending,
            HuntName::Descending => HuntStrategy::Descending,
            HuntName::RoundRobin => HuntStrategy::RoundRobin,
            HuntName::Lru => HuntStrategy::LeastRecentlyUsed,
        }
    }
}

/// The result of a hunt: which interface, which channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunted {
    pub interface: String,
    pub channel: ChannelInfo,
}

/// A span group and its hunting memory.
#[derive(Debug, Clone)]
pub struct SpanGroup {
    name: String,
    members: Vec<String>,
    strategy: HuntStrategy,
    last: Option<(usize, ChannelAddr)>,
    used: HashMap<(usize, ChannelAddr), u64>,
    tick: u64,
}

impl SpanGroup {
    pub fn new(name: &str, members: Vec<String>, strategy: HuntStrategy) -> SpanGroup {
        SpanGroup { name: name.to_owned(), members, strategy, last: None, used: HashMap::new(), tick: 0 }
    }

    /// A group from its (validated) configuration.
    pub fn from_config(cfg: &GroupConfig) -> SpanGroup {
        let strategy = cfg.hunt.as_ref().map(|h| HuntStrategy::from(*h.get_ref())).unwrap_or_default();
        SpanGroup::new(cfg.name.get_ref(), cfg.member_names(), strategy)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn members(&self) -> &[String] {
        &self.members
    }

    pub fn strategy(&self) -> HuntStrategy {
        self.strategy
    }

    /// Hunts with another strategy from now on (a configuration reload).
    pub fn set_strategy(&mut self, strategy: HuntStrategy) {
        self.strategy = strategy;
    }

    /// Picks an idle channel; `channels_of` gives a member interface's
    /// channels (empty for an interface that does not exist). The pick is
    /// remembered for round robin and LRU.
    pub fn hunt(&mut self, mut channels_of: impl FnMut(&str) -> Vec<ChannelInfo>) -> Option<Hunted> {
        let mut list: Vec<(usize, ChannelInfo)> = Vec::new();
        for (m, name) in self.members.iter().enumerate() {
            let mut chans = channels_of(name);
            chans.sort_by_key(|c| c.addr);
            list.extend(chans.into_iter().map(|c| (m, c)));
        }
        let idle = |c: &ChannelInfo| c.state == ChannelState::Idle;
        let pick = match self.strategy {
            HuntStrategy::Ascending => list.iter().position(|(_, c)| idle(c)),
            HuntStrategy::Descending => list.iter().rposition(|(_, c)| idle(c)),
            HuntStrategy::RoundRobin => {
                let start = match self.last {
                    // After the last pick (or where it would sort, if it is gone).
                    Some(last) => list.iter().position(|(m, c)| (*m, c.addr) > last).unwrap_or(0),
                    None => 0,
                };
                (0..list.len()).map(|k| (start + k) % list.len()).find(|&i| idle(&list[i].1))
            }
            HuntStrategy::LeastRecentlyUsed => list
                .iter()
                .enumerate()
                .filter(|(_, (_, c))| idle(c))
                .min_by_key(|(i, (m, c))| (self.used.get(&(*m, c.addr)).copied().unwrap_or(0), *i))
                .map(|(i, _)| i),
        }?;
        let (m, c) = list[pick];
        self.tick += 1;
        self.last = Some((m, c.addr));
        self.used.insert((m, c.addr), self.tick);
        Some(Hunted { interface: self.members[m].clone(), channel: c })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chans(span: u32, states: &[ChannelState]) -> Vec<ChannelInfo> {
        states
            .iter()
            .enumerate()
            .map(|(i, &state)| ChannelInfo { addr: ChannelAddr { span, pos: i as u32 + 1 }, channo: span * 100 + i as u32 + 1, state })
            .collect()
    }

    use ChannelState::*;

    fn picks(g: &mut SpanGroup, a: &[ChannelState], b: &[ChannelState], n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let h = g.hunt(|name| match name {
                    "a" => chans(1, a),
                    "b" => chans(2, b),
                    _ => Vec::new(),
                });
                h.map(|h| format!("{}{}", h.interface, h.channel.addr.pos)).unwrap_or_else(|| "none".into())
            })
            .collect()
    }

    fn group(s: HuntStrategy) -> SpanGroup {
        SpanGroup::new("g", vec!["a".into(), "b".into()], s)
    }

    #[test]
    fn ascending_takes_the_first_idle_channel_of_the_first_member() {
        let mut g = group(HuntStrategy::Ascending);
        assert_eq!(picks(&mut g, &[Busy, Idle, Idle], &[Idle], 2), ["a2", "a2"]);
    }

    #[test]
    fn a_new_strategy_applies_to_the_next_hunt() {
        let mut g = group(HuntStrategy::Ascending);
        assert_eq!(picks(&mut g, &[Idle, Idle], &[Idle, Idle], 1), ["a1"]);
        g.set_strategy(HuntStrategy::Descending);
        assert_eq!(picks(&mut g, &[Idle, Idle], &[Idle, Idle], 1), ["b2"]);
    }

    #[test]
    fn descending_takes_the_last_idle_channel_of_the_last_member() {
        let mut g = group(HuntStrategy::Descending);
        assert_eq!(picks(&mut g, &[Idle, Idle], &[Idle, Busy], 1), ["b1"]);
    }

    #[test]
    fn round_robin_moves_on_after_each_pick_and_wraps() {
        let mut g = group(HuntStrategy::RoundRobin);
        assert_eq!(picks(&mut g, &[Idle, Busy, Idle], &[Idle], 5), ["a1", "a3", "b1", "a1", "a3"]);
    }

    #[test]
    fn least_recently_used_prefers_channels_never_or_longest_ago_picked() {
        let mut g = group(HuntStrategy::LeastRecentlyUsed);
        assert_eq!(picks(&mut g, &[Idle, Idle], &[Idle], 3), ["a1", "a2", "b1"]);
        // a2 busy now: a1 is the oldest idle pick.
        assert_eq!(picks(&mut g, &[Idle, Busy], &[Idle], 2), ["a1", "b1"]);
        assert_eq!(picks(&mut g, &[Idle, Idle], &[Idle], 1), ["a2"]);
    }

    #[test]
    fn channels_in_alarm_out_of_service_maintenance_or_down_are_skipped() {
        for s in [HuntStrategy::Ascending, HuntStrategy::Descending, HuntStrategy::RoundRobin, HuntStrategy::LeastRecentlyUsed] {
            let mut g = group(s);
            assert_eq!(picks(&mut g, &[Alarm, Alarm], &[OutOfService, Maintenance, Idle, Down], 1), ["b3"], "{s:?}");
        }
    }

    #[test]
    fn a_group_with_nothing_idle_finds_no_channel() {
        let mut g = group(HuntStrategy::RoundRobin);
        assert_eq!(picks(&mut g, &[Busy], &[Down], 1), ["none"]);
        let mut g = SpanGroup::new("g", vec!["missing".into()], HuntStrategy::Ascending);
        assert_eq!(picks(&mut g, &[], &[], 1), ["none"]);
    }
}
