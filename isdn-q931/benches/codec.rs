//! Throughput of the Q.931 codec and of call control, and memory per call.
//! No benchmark framework: `cargo bench -p isdn-q931 --bench codec` prints
//! the figures (run it in release; `cargo test --benches` only checks that
//! it runs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use isdn_q931::q931::{CallControl, CallId, Command, Config, Event, Number, Output, PartyName, SetupRequest, Side, SwitchType};
use isdn_q931::wire::ie::facility::{Name, NameStyle};
use isdn_q931::wire::ie::{
    BearerCapabilityRepr, CauseRepr, ChannelIdRepr, FacilityRepr, InfoTransferCapability, Layer1Protocol, Location, NumberingPlan, PartyNumberRepr,
    Presentation, Screening, TypeOfNumber,
};
use isdn_q931::wire::{CallRef, CallRefFlag, CauseValue, IeRepr, MessageRepr, MessageType, ProtocolDiscriminator};

/// A typical NI-2 SETUP: bearer, channel, calling name facility, calling
/// and called numbers.
fn setup() -> MessageRepr {
    MessageRepr::new(ProtocolDiscriminator::Q931, CallRef::pri(0x1234, CallRefFlag::FromOriginator), MessageType::Setup)
        .with(IeRepr::BearerCapability(BearerCapabilityRepr::voice(InfoTransferCapability::Speech, Layer1Protocol::G711Ulaw)))
        .with(IeRepr::ChannelId(ChannelIdRepr::pri_channel(7, true)))
        .with(IeRepr::Facility(FacilityRepr::with_calling_name(NameStyle::Ni2, 1, &Name::allowed("JOHN DOE"))))
        .with(IeRepr::CallingNumber(
            PartyNumberRepr::new(TypeOfNumber::National, NumberingPlan::Isdn, "3035550100")
                .with_presentation(Presentation::Allowed, Screening::NetworkProvided),
        ))
        .with(IeRepr::CalledNumber(PartyNumberRepr::new(TypeOfNumber::National, NumberingPlan::Isdn, "2125551234")))
}

fn disconnect() -> MessageRepr {
    MessageRepr::new(ProtocolDiscriminator::Q931, CallRef::pri(0x1234, CallRefFlag::ToOriginator), MessageType::Disconnect)
        .with(IeRepr::Cause(CauseRepr::new(Location::PublicLocal, CauseValue::NORMAL_CLEARING)))
}

/// Runs `f` repeatedly for about `budget`; returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    let mut ops = 0usize;
    while start.elapsed() < budget {
        ops += f();
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo test --benches` passes `--bench`-less args; keep it short then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let budget = if quick { Duration::from_millis(50) } else { Duration::from_secs(1) };

    for (name, m) in [("SETUP (NI-2, 5 IEs)", setup()), ("DISCONNECT", disconnect())] {
        let bytes = m.to_vec().unwrap();
        let enc = rate(budget, || {
            for _ in 0..1000 {
                black_box(black_box(&m).to_vec().unwrap());
            }
            1000
        });
        let dec = rate(budget, || {
            for _ in 0..1000 {
                black_box(MessageRepr::parse_bytes(black_box(&bytes)).unwrap());
            }
            1000
        });
        println!("{name:<22} {:>3} octets: encode {:>10.0} msg/s, decode {:>10.0} msg/s", bytes.len(), enc, dec);
    }

    // Call control back to back (no data link): complete calls per second
    // (SETUP .. RELEASE COMPLETE, 7 messages each).
    let now = Instant::now();
    let mut net = CallControl::new(Config::new(SwitchType::Ni2, Side::Network), now).unwrap();
    let mut user = CallControl::new(Config::new(SwitchType::Ni2, Side::User), now).unwrap();
    net.link_up(now);
    user.link_up(now);
    let calls = rate(budget, || {
        for _ in 0..100 {
            one_call(&mut user, &mut net, now);
        }
        100
    });
    println!("call control: {calls:>10.0} complete calls/s (user and network side together)");

    // Memory: many calls in progress on a large NFAS group.
    let config = Config::new(SwitchType::Ni2, Side::User)
        .with_interfaces((0..20).map(|i| isdn_q931::q931::InterfaceConfig::new(i, isdn_q931::q931::InterfaceKind::T1, i == 0)).collect());
    let mut cc = CallControl::new(config, now).unwrap();
    cc.link_up(now);
    let n = 400;
    for i in 0..n {
        cc.setup(SetupRequest::new("2125551234").calling(Number::new(&format!("30355{i:05}"))).name(PartyName::allowed("JOHN DOE")), now).unwrap();
    }
    while cc.poll_output().is_some() {}
    let m = cc.memory();
    println!(
        "memory: {} calls; size_of call struct {} octets; about {} octets per call with heap \
         (SETUP kept for the T303 retransmission) and index",
        m.calls,
        m.call_struct_bytes,
        m.heap_bytes / m.calls.max(1)
    );
}

/// One call from `user` to `net`, answered and cleared, messages passed by
/// hand.
fn one_call(user: &mut CallControl, net: &mut CallControl, now: Instant) {
    let id = user.setup(SetupRequest::new("2125551234").calling(Number::new("3035550100")), now).unwrap();
    let mut incoming: Option<CallId> = None;
    pump(user, net, now, &mut incoming);
    let call = incoming.expect("offered");
    net.command(Command::Connect { call, connected: None }, now).unwrap();
    pump(user, net, now, &mut incoming);
    user.command(Command::Disconnect { call: id, cause: CauseValue::NORMAL_CLEARING, inband: false }, now).unwrap();
    pump(user, net, now, &mut incoming);
}

fn pump(a: &mut CallControl, b: &mut CallControl, now: Instant, incoming: &mut Option<CallId>) {
    loop {
        let mut moved = false;
        while let Some(o) = a.poll_output() {
            if let Output::Send(m) = o {
                moved = true;
                b.handle_message(&m, now);
            }
        }
        while let Some(o) = b.poll_output() {
            match o {
                Output::Send(m) => {
                    moved = true;
                    a.handle_message(&m, now);
                }
                Output::Event(Event::IncomingCall(ic)) => *incoming = Some(ic.call),
                Output::Event(_) => {}
            }
        }
        if !moved {
            break;
        }
    }
}
