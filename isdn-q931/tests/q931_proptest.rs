//! Property tests of Q.931 call control: arbitrary message sequences,
//! link failures, timer runs and commands never make it panic, never
//! break its bookkeeping, report every call's end exactly once, and —
//! once everything is released and the timers have run — leave no call and
//! no B-channel busy or restarting.

mod q931_harness;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use isdn_q931::q931::{CallControl, CallId, ChannelPref, ChannelRef, Command, Config, Event, Output, RestartTarget, SetupRequest, Side, SwitchType};
use isdn_q931::wire::ie::{
    BearerCapabilityRepr, CallStateRepr, CallStateValue, CauseRepr, ChangeStatusRepr, ChannelIdRepr, InfoTransferCapability, KeypadFacilityRepr,
    Layer1Protocol, Location, NumberingPlan, PartyNumberRepr, ProgressDescription, ProgressIndicatorRepr, RawIe, RestartClass, RestartIndicatorRepr,
    ServiceStatus, TypeOfNumber,
};
use isdn_q931::wire::{CallRef, CallRefFlag, CauseValue, IeRepr, MessageRepr, MessageType, ProtocolDiscriminator};
use proptest::prelude::*;
use q931_harness::{Bench, End, secs};

const TYPES: &[MessageType] = &[
    MessageType::Setup,
    MessageType::SetupAcknowledge,
    MessageType::CallProceeding,
    MessageType::Alerting,
    MessageType::Connect,
    MessageType::ConnectAcknowledge,
    MessageType::Progress,
    MessageType::Information,
    MessageType::Disconnect,
    MessageType::Release,
    MessageType::ReleaseComplete,
    MessageType::Status,
    MessageType::StatusEnquiry,
    MessageType::Facility,
    MessageType::Notify,
    MessageType::Restart,
    MessageType::RestartAcknowledge,
    MessageType::Suspend,
    MessageType::Resume,
    MessageType::UserInformation,
    MessageType::Unknown(0x33),
];

fn ie() -> impl Strategy<Value = IeRepr> {
    prop_oneof![
        Just(IeRepr::BearerCapability(BearerCapabilityRepr::voice(InfoTransferCapability::Speech, Layer1Protocol::G711Ulaw))),
        Just(IeRepr::Malformed(RawIe { codeset: 0, id: 0x04, data: vec![0x80] })),
        (1u8..32, any::<bool>(), proptest::option::of(0u8..3)).prop_map(|(c, ex, i)| {
            let r = ChannelIdRepr::pri_channel(c, ex);
            IeRepr::ChannelId(match i {
                Some(i) => r.with_interface(i),
                None => r,
            })
        }),
        Just(IeRepr::ChannelId(ChannelIdRepr::pri_any())),
        (0u8..128).prop_map(|v| IeRepr::Cause(CauseRepr::new(Location::PublicLocal, CauseValue(v)))),
        prop::sample::select(vec![0u8, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 15, 19, 22, 25, 61, 62])
            .prop_map(|s| IeRepr::CallState(CallStateRepr::new(CallStateValue::from_bits(s)))),
        Just(IeRepr::ProgressIndicator(ProgressIndicatorRepr::new(Location::PublicLocal, ProgressDescription::InbandAvailable))),
        prop::sample::select(vec![0u8, 6, 7, 3]).prop_map(|c| IeRepr::RestartIndicator(RestartIndicatorRepr { class: RestartClass::from_bits(c) })),
        "[0-9]{0,6}".prop_map(|d| IeRepr::CalledNumber(PartyNumberRepr::new(TypeOfNumber::Unknown, NumberingPlan::Isdn, &d))),
        Just(IeRepr::SendingComplete),
        Just(IeRepr::KeypadFacility(KeypadFacilityRepr { digits: "1".into() })),
        (any::<u8>(), any::<bool>()).prop_map(|(id, cs6)| IeRepr::Unknown(RawIe { codeset: if cs6 { 6 } else { 0 }, id: id & 0x7F, data: vec![1] })),
        (any::<bool>(), 0u8..3).prop_map(|(p, s)| IeRepr::ChangeStatus(ChangeStatusRepr { channel_preference: p, status: ServiceStatus::from_bits(s) })),
    ]
}

#[derive(Debug, Clone)]
enum Input {
    Msg { cr: u16, flag: bool, mt: MessageType, ies: Vec<IeRepr>, maintenance: bool },
    Bytes(Vec<u8>),
    LinkDown,
    LinkUp,
    LinkReset,
    Wait(u32),
    Cmd(u8, usize, u8),
}

/// The IEs a message of this type normally carries, with channels and
/// numbers the stack is likely to be using.
fn typical_ies(mt: MessageType, ch: u8, state: u8, cause: u8) -> Vec<IeRepr> {
    let chan = IeRepr::ChannelId(ChannelIdRepr::pri_channel(ch, true));
    let cause = IeRepr::Cause(CauseRepr::new(Location::PublicLocal, CauseValue(cause)));
    match mt {
        MessageType::Setup => vec![
            IeRepr::BearerCapability(BearerCapabilityRepr::voice(InfoTransferCapability::Speech, Layer1Protocol::G711Ulaw)),
            chan,
            IeRepr::CalledNumber(PartyNumberRepr::new(TypeOfNumber::Unknown, NumberingPlan::Isdn, "100")),
        ],
        MessageType::SetupAcknowledge | MessageType::CallProceeding | MessageType::Alerting | MessageType::Connect => vec![chan],
        MessageType::Disconnect | MessageType::Release | MessageType::ReleaseComplete => {
            vec![cause]
        }
        MessageType::Status => vec![cause, IeRepr::CallState(CallStateRepr::new(CallStateValue::from_bits(state)))],
        MessageType::Progress => vec![IeRepr::ProgressIndicator(ProgressIndicatorRepr::new(Location::PublicLocal, ProgressDescription::InbandAvailable))],
        MessageType::Information => vec![IeRepr::KeypadFacility(KeypadFacilityRepr { digits: "1".into() })],
        MessageType::Restart | MessageType::RestartAcknowledge => vec![IeRepr::RestartIndicator(RestartIndicatorRepr { class: RestartClass::Indicated }), chan],
        _ => vec![],
    }
}

/// Channels the stacks pick first (user ascending, network descending on
/// a T1 or an E1).
const LIKELY_CHANNELS: &[u8] = &[1, 2, 3, 23, 22, 31, 30, 24, 16];

fn input() -> impl Strategy<Value = Input> {
    let typical = (
        1u16..4,
        any::<bool>(),
        prop::sample::select(TYPES.to_vec()),
        prop::sample::select(LIKELY_CHANNELS.to_vec()),
        prop::sample::select(vec![0u8, 1, 3, 4, 6, 7, 8, 9, 10, 12, 19, 25, 61]),
        prop::sample::select(vec![16u8, 17, 31, 30, 81, 96, 101]),
        any::<bool>(),
    )
        .prop_map(|(cr, flag, mt, ch, st, cause, global)| {
            let cr = if global && matches!(mt, MessageType::Restart | MessageType::RestartAcknowledge) { 0 } else { cr };
            Input::Msg { cr, flag, mt, ies: typical_ies(mt, ch, st, cause), maintenance: false }
        });
    prop_oneof![
        12 => typical,
        4 => (0u16..4, any::<bool>(), prop::sample::select(TYPES.to_vec()),
              prop::collection::vec(ie(), 0..5), prop::bool::weighted(0.05))
            .prop_map(|(cr, flag, mt, ies, maintenance)| Input::Msg { cr, flag, mt, ies, maintenance }),
        1 => prop::collection::vec(any::<u8>(), 0..16).prop_map(Input::Bytes),
        1 => Just(Input::LinkDown),
        1 => Just(Input::LinkUp),
        1 => Just(Input::LinkReset),
        4 => prop_oneof![(0u32..20_000), (80_000u32..400_000)].prop_map(Input::Wait),
        10 => (command_kind(), any::<usize>(), any::<u8>()).prop_map(|(k, i, x)| Input::Cmd(k, i, x)),
    ]
}

/// Command kinds, weighted towards placing and answering calls.
fn command_kind() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => Just(10u8),
        1 => Just(11u8),
        3 => Just(3u8),
        2 => Just(1u8),
        2 => Just(2u8),
        1 => Just(0u8),
        2 => Just(4u8),
        1 => Just(5u8),
        1 => Just(6u8),
        1 => Just(7u8),
        1 => Just(8u8),
        1 => Just(12u8),
        1 => Just(13u8),
    ]
}

/// Tracks what the application was told, and checks it as it goes.
#[derive(Default)]
struct App {
    known: BTreeSet<CallId>,
    released: BTreeSet<CallId>,
}

impl App {
    fn see(&mut self, e: &Event) -> Result<(), TestCaseError> {
        if let Event::IncomingCall(ic) = e {
            prop_assert!(self.known.insert(ic.call), "call id reused");
        }
        if let Some(call) = e.call() {
            prop_assert!(self.known.contains(&call), "event for unknown {call}: {e:?}");
            prop_assert!(!self.released.contains(&call), "event after Released: {e:?}");
        }
        if let Event::Released { call, .. } = e {
            self.released.insert(*call);
        }
        Ok(())
    }

    fn live(&self) -> Vec<CallId> {
        self.known.difference(&self.released).copied().collect()
    }
}

fn drain(cc: &mut CallControl, app: &mut App) -> Result<(), TestCaseError> {
    while let Some(o) = cc.poll_output() {
        match o {
            Output::Send(b) => {
                prop_assert!(b.len() <= isdn_q931::q931::MAX_MESSAGE_LEN);
                prop_assert!(MessageRepr::parse_bytes(&b).is_ok());
            }
            Output::Event(e) => app.see(&e)?,
        }
    }
    if let Err(e) = cc.check_consistency() {
        return Err(TestCaseError::fail(e));
    }
    Ok(())
}

fn command(kind: u8, call: CallId, x: u8) -> Command {
    let cause = CauseValue([16, 17, 1, 34, 41][usize::from(x) % 5]);
    match kind {
        0 => Command::SetupAck { call },
        1 => Command::Proceeding { call, inband: x & 1 != 0 },
        2 => Command::Alerting { call, inband: x & 1 != 0 },
        3 => Command::Connect { call, connected: None },
        4 => Command::Disconnect { call, cause, inband: x & 1 != 0 },
        5 => Command::Release { call, cause },
        6 => Command::StatusEnquiry { call },
        7 => Command::Information { call, digits: "12".into(), sending_complete: x & 1 != 0 },
        8 => Command::Progress { call, description: ProgressDescription::InbandAvailable },
        _ => Command::Release { call, cause },
    }
}

fn run_sequence(switch: SwitchType, side: Side, inputs: Vec<Input>) -> Result<(), TestCaseError> {
    let mut now = Instant::now();
    let mut cc = CallControl::new(Config::new(switch, side), now).unwrap();
    let mut app = App::default();
    cc.link_up(now);
    for input in inputs {
        match input {
            Input::Msg { cr, flag, mt, ies, maintenance } => {
                let pd = if maintenance { ProtocolDiscriminator::NationalMaintenance } else { ProtocolDiscriminator::Q931 };
                let call_ref = if cr == 0 {
                    CallRef::global(2, if flag { CallRefFlag::ToOriginator } else { CallRefFlag::FromOriginator })
                } else {
                    CallRef::pri(cr, if flag { CallRefFlag::ToOriginator } else { CallRefFlag::FromOriginator })
                };
                let m = MessageRepr { pd, call_ref, msg_type: mt, ies };
                if let Ok(b) = m.to_vec() {
                    cc.handle_message(&b, now);
                }
            }
            Input::Bytes(b) => cc.handle_message(&b, now),
            Input::LinkDown => cc.link_down(now),
            Input::LinkUp => cc.link_up(now),
            Input::LinkReset => cc.link_reset(now),
            Input::Wait(ms) => {
                let end = now + Duration::from_millis(u64::from(ms));
                while let Some(t) = cc.poll_timeout() {
                    if t > end {
                        break;
                    }
                    now = now.max(t);
                    cc.handle_timeout(now);
                    drain(&mut cc, &mut app)?;
                }
                now = end;
            }
            Input::Cmd(kind, i, x) => {
                let live = app.live();
                match kind {
                    10 | 11 => {
                        let channel = match x % 3 {
                            0 => ChannelPref::Any,
                            1 => ChannelPref::Preferred(ChannelRef::new(0, x % 24 + 1)),
                            _ => ChannelPref::Exclusive(ChannelRef::new(0, x % 24 + 1)),
                        };
                        let mut req = SetupRequest::new("123").channel(channel);
                        if kind == 11 {
                            req = req.overlap();
                        }
                        if let Ok(id) = cc.setup(req, now) {
                            prop_assert!(app.known.insert(id));
                        }
                    }
                    12 => {
                        let _ = cc.command(Command::Restart(RestartTarget::Channels(vec![ChannelRef::new(0, x % 23 + 1)])), now);
                    }
                    13 => {
                        let _ = cc.command(Command::Restart(RestartTarget::All), now);
                    }
                    _ if !live.is_empty() => {
                        let call = live[i % live.len()];
                        let _ = cc.command(command(kind, call, x), now);
                    }
                    _ => {}
                }
            }
        }
        drain(&mut cc, &mut app)?;
    }
    // Quiesce: link up, everything released by the application, then the
    // timers run out with a silent peer.
    cc.link_up(now);
    drain(&mut cc, &mut app)?;
    for call in app.live() {
        let _ = cc.command(Command::Release { call, cause: CauseValue::NORMAL_CLEARING }, now);
        drain(&mut cc, &mut app)?;
    }
    if cc.config().variant.service_pd.is_some() {
        let _ = cc.command(Command::Service { target: RestartTarget::All, status: ServiceStatus::InService }, now);
    }
    let end = now + Duration::from_secs(3600);
    while let Some(t) = cc.poll_timeout() {
        prop_assert!(t <= end, "timers still running after an hour");
        now = now.max(t);
        cc.handle_timeout(now);
        drain(&mut cc, &mut app)?;
    }
    prop_assert!(cc.calls().is_empty(), "calls left: {:?}", cc.calls());
    let (busy, restarting, _) = cc.channels().counts();
    prop_assert_eq!((busy, restarting), (0, 0), "channels stuck");
    prop_assert_eq!(&app.known, &app.released, "every call ends with one Released");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn call_control_survives_anything_and_frees_every_channel(
        switch in prop::sample::select(SwitchType::ALL.to_vec()),
        network in any::<bool>(),
        inputs in prop::collection::vec(input(), 0..60),
    ) {
        let side = if network { Side::Network } else { Side::User };
        run_sequence(switch, side, inputs)?;
    }
}

// ----- two full stacks -----

#[derive(Debug, Clone)]
enum Step {
    /// A command on one end: (end is user, kind, call pick, extra).
    Cmd(bool, u8, usize, u8),
    Run(u32),
    /// Cut the D-channel for this long.
    Cut(u32),
    /// Garbage frame into one end.
    Garbage(bool, Vec<u8>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (any::<bool>(), command_kind(), any::<usize>(), any::<u8>())
            .prop_map(|(u, k, i, x)| Step::Cmd(u, k, i, x)),
        5 => (0u32..30_000).prop_map(Step::Run),
        2 => prop_oneof![(0u32..25_000), (100_000u32..200_000)].prop_map(Step::Cut),
        1 => (any::<bool>(), prop::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(u, g)| Step::Garbage(u, g)),
    ]
}

fn live(b: &Bench, end: End) -> Vec<CallId> {
    b.pri_ref(end).call_control().calls().into_iter().map(|(c, _)| c).collect()
}

fn run_pair(switch: SwitchType, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut b = Bench::new(switch);
    b.establish();
    for s in steps {
        match s {
            Step::Cmd(user, kind, i, x) => {
                let end = if user { End::User } else { End::Net };
                let now = b.now;
                match kind {
                    10 | 11 => {
                        let channel = match x % 3 {
                            0 => ChannelPref::Any,
                            1 => ChannelPref::Preferred(ChannelRef::new(0, x % 23 + 1)),
                            _ => ChannelPref::Exclusive(ChannelRef::new(0, x % 23 + 1)),
                        };
                        let mut req = SetupRequest::new("5551234").channel(channel);
                        if kind == 11 {
                            req = req.overlap();
                        }
                        let _ = b.pri(end).setup(req, now);
                    }
                    12 => {
                        let _ = b.try_command(end, Command::Restart(RestartTarget::Channels(vec![ChannelRef::new(0, x % 23 + 1)])));
                    }
                    13 => {
                        let _ = b.try_command(end, Command::Restart(RestartTarget::Interface(0)));
                    }
                    _ => {
                        let calls = live(&b, end);
                        if !calls.is_empty() {
                            let call = calls[i % calls.len()];
                            let _ = b.try_command(end, command(kind, call, x));
                        }
                    }
                }
                b.run_for(Duration::from_millis(5));
            }
            Step::Run(ms) => b.run_for(Duration::from_millis(u64::from(ms))),
            Step::Cut(ms) => {
                b.cut_links = vec![0];
                b.run_for(Duration::from_millis(u64::from(ms)));
                b.cut_links.clear();
            }
            Step::Garbage(user, g) => {
                let end = if user { End::User } else { End::Net };
                let now = b.now;
                b.pri(end).handle_frame(0, &g, now);
            }
        }
        for end in [End::Net, End::User] {
            if let Err(e) = b.pri_ref(end).call_control().check_consistency() {
                return Err(TestCaseError::fail(e));
            }
        }
    }
    // Quiesce.
    b.cut_links.clear();
    let up = b.run_until(secs(60), |b| [End::Net, End::User].iter().all(|e| b.pri_ref(*e).active_link().is_some()));
    prop_assert!(up, "links did not come back");
    // The application releases whatever it has, again for calls offered
    // meanwhile (a retransmitted SETUP can arrive after the first copy was
    // rejected: it is a new call), until the stacks are quiet.
    for _ in 0..5 {
        for end in [End::Net, End::User] {
            for call in live(&b, end) {
                let _ = b.try_command(end, Command::Release { call, cause: CauseValue::NORMAL_CLEARING });
            }
        }
        b.run_for(secs(600));
    }
    for end in [End::Net, End::User] {
        let cc = b.pri_ref(end).call_control();
        prop_assert!(cc.calls().is_empty(), "{end:?} calls left: {:?}", cc.calls());
        let (busy, restarting, oos) = cc.channels().counts();
        prop_assert_eq!((busy, restarting, oos), (0, 0, 0), "{:?} channels stuck", end);
    }
    // Every call either side learnt of ended exactly once.
    for end in [End::Net, End::User] {
        let mut app = App::default();
        for e in b.events(end) {
            if let Event::Released { call, .. } = &e {
                app.known.insert(*call);
            }
            if let Event::IncomingCall(ic) = &e {
                app.known.insert(ic.call);
            }
        }
        let releases = b.events(end).iter().filter(|e| matches!(e, Event::Released { .. })).count();
        prop_assert_eq!(releases, app.known.len(), "{:?}: one Released per call", end);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn two_stacks_never_leave_channels_stuck(
        switch in prop::sample::select(SwitchType::ALL.to_vec()),
        steps in prop::collection::vec(step(), 0..40),
    ) {
        run_pair(switch, steps)?;
    }
}
