//! The whole stack ([`Pri`]: Q.921 under Q.931) fed arbitrary sequences:
//! Q.931 messages from a peer (carried by a real Q.921 link, so they reach
//! call control), raw frames, commands and time. It must never panic,
//! its bookkeeping must stay consistent, and once the application has
//! released everything and the timers have run, no call and no B-channel
//! may be left busy or restarting.
//!
//! Input: byte 0 picks the switch type (bits 0-2) and the side (bit 3);
//! then operations `op, ...`:
//!
//! * `op % 8` 0-2: a Q.931 message from the peer (`len`, `len` octets)
//! * 3: a raw frame into the stack (`len`, `len` octets)
//! * 4: wait `op / 8 * 250` ms
//! * 5: a command on a call (`kind`, `pick`)
//! * 6: a SETUP (`channel`)
//! * 7: data link cut/restore toggle

#![no_main]

use std::time::{Duration, Instant};

use isdn_q931::q921::{self, Link, Role};
use isdn_q931::q931::{
    CallId, ChannelPref, ChannelRef, Command, Config, RestartTarget, SetupRequest, Side, SwitchType,
};
use isdn_q931::wire::CauseValue;
use isdn_q931::{Output, Pri, PriConfig};
use libfuzzer_sys::fuzz_target;

struct World {
    pri: Pri,
    peer: Link,
    now: Instant,
    cut: bool,
}

impl World {
    /// Moves frames both ways (no latency) and runs due timers until
    /// nothing moves.
    fn shuttle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(o) = self.pri.poll_output() {
                if let Output::Transmit { frame, .. } = o {
                    moved = true;
                    if !self.cut {
                        self.peer.handle_frame(&frame, self.now);
                    }
                }
            }
            while let Some(o) = self.peer.poll_output() {
                if let q921::Output::Transmit(frame) = o {
                    moved = true;
                    if !self.cut {
                        self.pri.handle_frame(0, &frame, self.now);
                    }
                }
            }
            if !moved {
                break;
            }
        }
        let c = self.pri.call_control();
        if let Err(e) = c.check_consistency() {
            panic!("{e}");
        }
    }

    fn wait(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.pri.poll_timeout(), self.peer.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.pri.handle_timeout(self.now);
                    self.peer.handle_timeout(self.now);
                    self.shuttle();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn calls(&self) -> Vec<CallId> {
        self.pri
            .call_control()
            .calls()
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    }
}

fn take<'a>(data: &mut &'a [u8]) -> Option<u8> {
    let (&b, rest) = data.split_first()?;
    *data = rest;
    Some(b)
}

fn take_slice<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    let len = usize::from(take(data).unwrap_or(0)).min(data.len());
    let (s, rest) = data.split_at(len);
    *data = rest;
    s
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let Some(head) = take(&mut data) else {
        return;
    };
    let switch = SwitchType::ALL[usize::from(head & 7) % SwitchType::ALL.len()];
    let side = if head & 8 != 0 {
        Side::Network
    } else {
        Side::User
    };
    let now = Instant::now();
    let pri = Pri::new(PriConfig::new(Config::new(switch, side)), now).unwrap();
    let peer_role = match side {
        Side::Network => Role::User,
        Side::User => Role::Network,
    };
    let peer = Link::new(peer_role, q921::Config::default(), now);
    let mut w = World {
        pri,
        peer,
        now,
        cut: false,
    };
    w.shuttle();
    while let Some(op) = take(&mut data) {
        match op % 8 {
            0..=2 => {
                let msg = take_slice(&mut data).to_vec();
                let _ = w.peer.command(q921::Command::Send(msg), w.now);
            }
            3 => {
                let frame = take_slice(&mut data).to_vec();
                let now = w.now;
                w.pri.handle_frame(0, &frame, now);
            }
            4 => w.wait(Duration::from_millis(u64::from(op / 8) * 250)),
            5 => {
                let kind = take(&mut data).unwrap_or(0);
                let pick = usize::from(take(&mut data).unwrap_or(0));
                let calls = w.calls();
                let now = w.now;
                let cause = CauseValue::NORMAL_CLEARING;
                let cmd = match (kind % 12, calls.get(pick % calls.len().max(1))) {
                    (10, _) => Command::Restart(RestartTarget::All),
                    (11, _) => Command::Restart(RestartTarget::Channels(vec![ChannelRef::new(
                        0,
                        (kind >> 4) + 1,
                    )])),
                    (k, Some(&call)) => match k {
                        0 => Command::SetupAck { call },
                        1 => Command::Proceeding { call, inband: true },
                        2 => Command::Alerting {
                            call,
                            inband: false,
                        },
                        3 => Command::Connect {
                            call,
                            connected: None,
                        },
                        4 => Command::Disconnect {
                            call,
                            cause,
                            inband: kind & 0x80 != 0,
                        },
                        5 => Command::Release { call, cause },
                        6 => Command::StatusEnquiry { call },
                        7 => Command::Information {
                            call,
                            digits: "5".into(),
                            sending_complete: kind & 0x40 != 0,
                        },
                        _ => Command::Release { call, cause },
                    },
                    _ => continue,
                };
                let _ = w.pri.command(cmd, now);
            }
            6 => {
                let c = take(&mut data).unwrap_or(0);
                let channel = match c % 3 {
                    0 => ChannelPref::Any,
                    1 => ChannelPref::Preferred(ChannelRef::new(0, c % 31 + 1)),
                    _ => ChannelPref::Exclusive(ChannelRef::new(0, c % 31 + 1)),
                };
                let now = w.now;
                let _ = w.pri.setup(SetupRequest::new("123").channel(channel), now);
            }
            _ => w.cut = !w.cut,
        }
        w.shuttle();
    }
    // Quiesce: restore the link, release everything, let the timers run.
    w.cut = false;
    w.wait(Duration::from_secs(30));
    for _ in 0..4 {
        for call in w.calls() {
            let now = w.now;
            let _ = w.pri.command(
                Command::Release {
                    call,
                    cause: CauseValue::NORMAL_CLEARING,
                },
                now,
            );
        }
        w.shuttle();
        w.wait(Duration::from_secs(900));
    }
    let cc = w.pri.call_control();
    assert!(cc.calls().is_empty(), "calls left: {:?}", cc.calls());
    let (busy, restarting, _) = cc.channels().counts();
    assert_eq!((busy, restarting), (0, 0), "channels stuck");
});
