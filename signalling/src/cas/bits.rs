//! ABCD signalling bits: the vocabulary, per-signalling-type patterns as data
//! tables, the received-bits debouncer, and busy-out patterns.
//!
//! Bit numbering follows DAHDI (`<dahdi/user.h>`: A = 8, B = 4, C = 2, D = 1),
//! so an [`Abcd`] is exactly the value `DAHDI_SETTXBITS`/`DAHDI_GETRXBITS`
//! carry.
//!
//! * T1 ESF carries four robbed bits A, B, C, D per channel.
//! * T1 D4 (superframe) carries only A and B; by convention C = A and D = B
//!   ([`Framing::D4`] folds the pattern that way on transmit and looks only at
//!   A and B on receive).
//! * E1 carries ABCD per channel in timeslot 16. 0000 is forbidden there
//!   (it would imitate the multiframe alignment word, ITU-T G.704 §5.1.3.2), so
//!   E1 patterns keep D = 1.
//!
//! The patterns of the T1 channel-bank types are those DAHDI itself transmits
//! and decodes (dahdi-linux `drivers/dahdi/dahdi-base.c`, the `outs[]` table of
//! `dahdi_rbs_sethook()` for transmit and `dahdi_rbsbits()` for receive), so
//! a Tandem CAS channel is bit-compatible with a DAHDI/Asterisk peer.

use std::time::{Duration, Instant};

/// Four CAS signalling bits, A in bit 3 down to D in bit 0 (DAHDI's layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Abcd(u8);

impl Abcd {
    /// Bit A.
    pub const A: u8 = 0b1000;
    /// Bit B.
    pub const B: u8 = 0b0100;
    /// Bit C.
    pub const C: u8 = 0b0010;
    /// Bit D.
    pub const D: u8 = 0b0001;

    /// The bits of the low nibble of `v`; higher bits are ignored, so any
    /// byte read from hardware is accepted.
    pub const fn new(v: u8) -> Abcd {
        Abcd(v & 0x0f)
    }

    /// From individual bits.
    pub const fn from_bits(a: bool, b: bool, c: bool, d: bool) -> Abcd {
        Abcd(((a as u8) << 3) | ((b as u8) << 2) | ((c as u8) << 1) | (d as u8))
    }

    /// The nibble (A = bit 3).
    pub const fn value(self) -> u8 {
        self.0
    }

    /// Bit A.
    pub const fn a(self) -> bool {
        self.0 & Self::A != 0
    }

    /// Bit B.
    pub const fn b(self) -> bool {
        self.0 & Self::B != 0
    }

    /// Bit C.
    pub const fn c(self) -> bool {
        self.0 & Self::C != 0
    }

    /// Bit D.
    pub const fn d(self) -> bool {
        self.0 & Self::D != 0
    }

    /// Only A and B (C and D cleared); what R2 line signalling and D4 compare.
    pub const fn ab(self) -> Abcd {
        Abcd(self.0 & 0b1100)
    }
}

impl std::fmt::Display for Abcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04b}", self.0)
    }
}

/// How the span carries the bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// T1 extended superframe: A, B, C and D.
    #[default]
    Esf,
    /// T1 superframe (D4): A and B only; C mirrors A and D mirrors B.
    D4,
    /// E1 CAS: ABCD in timeslot 16.
    E1,
}

impl Framing {
    /// The bits to hand to the hardware for a logical pattern: on D4 C and D
    /// are copies of A and B.
    pub fn transmit(self, bits: Abcd) -> Abcd {
        match self {
            Framing::D4 => Abcd::from_bits(bits.a(), bits.b(), bits.a(), bits.b()),
            Framing::Esf | Framing::E1 => bits,
        }
    }

    /// The bits that carry meaning in received bits: on D4 only A and B.
    pub fn receive(self, bits: Abcd) -> Abcd {
        match self {
            Framing::D4 => Abcd::from_bits(bits.a(), bits.b(), bits.a(), bits.b()),
            Framing::Esf | Framing::E1 => bits,
        }
    }
}

/// A T1 robbed-bit signalling type, named as Tandem names ports (README:
/// `fxs` is where a phone plugs in, `fxo` is where a CO line plugs in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RbsType {
    /// E&M (also FGB/FGD): DAHDI `DAHDI_SIG_EM`.
    Em,
    /// E&M on E1 CAS: DAHDI `DAHDI_SIG_EM_E1`.
    EmE1,
    /// Tandem is the office toward a channel bank's FXS card (phones),
    /// loop start. DAHDI `fxols` (`DAHDI_SIG_FXOLS`).
    FxsLoopStart,
    /// As [`RbsType::FxsLoopStart`], ground start. DAHDI `fxogs`.
    FxsGroundStart,
    /// As [`RbsType::FxsLoopStart`], kewl start (battery denial on
    /// disconnect). DAHDI `fxoks`.
    FxsKewlStart,
    /// Tandem is the station toward a channel bank's FXO card (CO lines),
    /// loop start. DAHDI `fxsls` (`DAHDI_SIG_FXSLS`).
    FxoLoopStart,
    /// As [`RbsType::FxoLoopStart`], ground start. DAHDI `fxsgs`.
    FxoGroundStart,
    /// As [`RbsType::FxoLoopStart`], kewl start. DAHDI `fxsks`.
    FxoKewlStart,
}

/// A transmit state, in DAHDI's terms (`enum dahdi_txsig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxSig {
    /// On hook / idle.
    OnHook,
    /// Off hook / seized / answered.
    OffHook,
    /// Start: ringing (office side) or ring-ground seizure request (station
    /// ground start).
    Start,
    /// Kewl: battery denial (office kewl start disconnect).
    Kewl,
}

/// What a change of received bits means, in DAHDI's terms (`enum dahdi_rxsig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RxSig {
    /// Far end on hook / idle (station side: tip open or battery denial).
    OnHook,
    /// Far end off hook (station side: tip ground or loop current).
    OffHook,
    /// Ground-start seizure request from a station (ring ground).
    Start,
    /// Ringing from the office.
    Ring,
}

const ABCD: Abcd = Abcd::new(0b1111);
const BD: Abcd = Abcd::new(0b0101);
const AC: Abcd = Abcd::new(0b1010);
const ABD: Abcd = Abcd::new(0b1101);
const ZERO: Abcd = Abcd::new(0b0000);
const D_ONLY: Abcd = Abcd::new(0b0001);

/// One row of the transmit table: the bits sent for each [`TxSig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxPatterns {
    /// Bits for [`TxSig::OnHook`].
    pub on_hook: Abcd,
    /// Bits for [`TxSig::OffHook`].
    pub off_hook: Abcd,
    /// Bits for [`TxSig::Start`].
    pub start: Abcd,
    /// Bits for [`TxSig::Kewl`].
    pub kewl: Abcd,
    /// Bits sent while the channel is busied out (alarm or out of service).
    pub busy_out: Abcd,
}

impl RbsType {
    /// The transmit patterns of this type.
    ///
    /// The on-hook/off-hook/start/kewl columns are DAHDI's `outs[]` table
    /// (dahdi-base.c `dahdi_rbs_sethook`); entries DAHDI leaves unset are 0000
    /// there too. Busy-out sends what makes the far end stop offering calls:
    /// off-hook (seized) for E&M and for a station toward a CO line (the CO
    /// then gives callers busy), and for an office side the idle pattern
    /// (phones can't be busied by bits; the office simply stops answering).
    pub const fn tx(self) -> TxPatterns {
        match self {
            RbsType::Em => TxPatterns { on_hook: ZERO, off_hook: ABCD, start: ABCD, kewl: ZERO, busy_out: ABCD },
            RbsType::EmE1 => TxPatterns { on_hook: D_ONLY, off_hook: ABD, start: ABD, kewl: D_ONLY, busy_out: ABD },
            RbsType::FxsLoopStart => TxPatterns { on_hook: BD, off_hook: BD, start: ZERO, kewl: ZERO, busy_out: BD },
            RbsType::FxsGroundStart => TxPatterns { on_hook: ABCD, off_hook: BD, start: ZERO, kewl: ZERO, busy_out: ABCD },
            RbsType::FxsKewlStart => TxPatterns { on_hook: BD, off_hook: BD, start: ZERO, kewl: ABCD, busy_out: BD },
            RbsType::FxoLoopStart | RbsType::FxoKewlStart => TxPatterns { on_hook: BD, off_hook: ABCD, start: ABCD, kewl: ZERO, busy_out: ABCD },
            RbsType::FxoGroundStart => TxPatterns { on_hook: BD, off_hook: ABCD, start: AC, kewl: ZERO, busy_out: ABCD },
        }
    }

    /// The bits to send for `sig`.
    pub const fn bits(self, sig: TxSig) -> Abcd {
        let t = self.tx();
        match sig {
            TxSig::OnHook => t.on_hook,
            TxSig::OffHook => t.off_hook,
            TxSig::Start => t.start,
            TxSig::Kewl => t.kewl,
        }
    }

    /// What received bits mean for this type (dahdi-base.c `dahdi_rbsbits`):
    ///
    /// * E&M: A = 1 off hook, A = 0 on hook.
    /// * office side (fxs ports): A = 1 loop closed; ground start also reads
    ///   B = 0 as the station's ring-ground seizure request.
    /// * station side (fxo ports): B = 0 ringing; otherwise loop start is
    ///   always "off hook" (the office has no bit for idle), ground and kewl
    ///   start read A = 1 as on hook (tip open / battery denied) and A = 0
    ///   as off hook (tip ground / loop current).
    pub fn decode(self, bits: Abcd) -> RxSig {
        let hook = |a: bool| if a { RxSig::OffHook } else { RxSig::OnHook };
        match self {
            RbsType::Em | RbsType::EmE1 => hook(bits.a()),
            RbsType::FxsGroundStart if !bits.b() => RxSig::Start,
            RbsType::FxsLoopStart | RbsType::FxsGroundStart | RbsType::FxsKewlStart => hook(bits.a()),
            RbsType::FxoLoopStart | RbsType::FxoGroundStart | RbsType::FxoKewlStart if !bits.b() => RxSig::Ring,
            RbsType::FxoLoopStart => RxSig::OffHook,
            RbsType::FxoGroundStart | RbsType::FxoKewlStart => {
                if bits.a() {
                    RxSig::OnHook
                } else {
                    RxSig::OffHook
                }
            }
        }
    }
}

/// Default debounce of received bits on T1 (a robbed-bit change must hold
/// this long to count; a superframe is 1.5 ms and an ESF 3 ms, so this
/// rides out a few frames of bit errors without slowing a 140 ms wink).
pub const T1_DEBOUNCE: Duration = Duration::from_millis(20);

/// Default persistence check of received bits on E1 CAS (a TS16 multiframe
/// is 2 ms).
pub const E1_DEBOUNCE: Duration = Duration::from_millis(20);

/// Debounces received bits: a new pattern is reported only after it has been
/// seen unchanged for the debounce time. Sans-IO: feed every received change
/// with [`Debouncer::push`], call [`Debouncer::handle_timeout`] at
/// [`Debouncer::poll_timeout`].
#[derive(Debug, Clone)]
pub struct Debouncer {
    time: Duration,
    stable: Abcd,
    candidate: Option<(Abcd, Instant)>,
}

impl Debouncer {
    /// A debouncer whose stable state starts as `initial`.
    pub fn new(time: Duration, initial: Abcd) -> Debouncer {
        Debouncer { time, stable: initial, candidate: None }
    }

    /// The last stable (debounced) bits.
    pub fn stable(&self) -> Abcd {
        self.stable
    }

    /// Feeds received bits; returns the new stable bits if they changed now
    /// (only possible with a zero debounce time).
    pub fn push(&mut self, bits: Abcd, now: Instant) -> Option<Abcd> {
        if bits == self.stable {
            self.candidate = None;
            return None;
        }
        match self.candidate {
            Some((c, _)) if c == bits => {}
            _ => self.candidate = Some((bits, now)),
        }
        self.handle_timeout(now)
    }

    /// When the pending change becomes stable, if one is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.candidate.map(|(_, since)| since.checked_add(self.time).unwrap_or(since))
    }

    /// Promotes the pending change if it has held long enough; returns the
    /// new stable bits then.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Abcd> {
        let (bits, _) = self.candidate?;
        if self.poll_timeout().is_some_and(|t| now >= t) {
            self.stable = bits;
            self.candidate = None;
            return Some(bits);
        }
        None
    }

    /// Forgets any pending change and sets the stable state (after an alarm).
    pub fn reset(&mut self, bits: Abcd) {
        self.stable = bits;
        self.candidate = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abcd_layout_matches_dahdi() {
        let b = Abcd::from_bits(true, false, false, true);
        assert_eq!(b.value(), 0b1001);
        assert!(b.a() && !b.b() && !b.c() && b.d());
        assert_eq!(Abcd::new(0xf9).value(), 0b1001, "high nibble ignored");
        assert_eq!(b.to_string(), "1001");
        assert_eq!(Abcd::new(0b1101).ab().value(), 0b1100);
    }

    #[test]
    fn d4_mirrors_a_into_c_and_b_into_d() {
        assert_eq!(Framing::D4.transmit(Abcd::new(0b1000)).value(), 0b1010);
        assert_eq!(Framing::D4.transmit(Abcd::new(0b0101)).value(), 0b0101);
        assert_eq!(Framing::D4.receive(Abcd::new(0b1001)).value(), 0b1010, "C and D received on D4 are ignored");
        assert_eq!(Framing::Esf.transmit(Abcd::new(0b1001)).value(), 0b1001);
    }

    #[test]
    fn em_idles_at_zero_and_seizes_with_all_ones() {
        assert_eq!(RbsType::Em.bits(TxSig::OnHook).value(), 0b0000);
        assert_eq!(RbsType::Em.bits(TxSig::OffHook).value(), 0b1111);
        assert_eq!(RbsType::Em.decode(Abcd::new(0b1000)), RxSig::OffHook);
        assert_eq!(RbsType::Em.decode(Abcd::new(0b0111)), RxSig::OnHook, "only A counts");
        assert_eq!(RbsType::EmE1.bits(TxSig::OnHook).value(), 0b0001, "E1 never sends 0000");
        assert_eq!(RbsType::EmE1.bits(TxSig::OffHook).value(), 0b1101);
    }

    #[test]
    fn loop_start_channel_bank_patterns_follow_dahdi() {
        // Station (fxo port): idle A=0 B=1, off hook A=1.
        assert_eq!(RbsType::FxoLoopStart.bits(TxSig::OnHook).value(), 0b0101);
        assert_eq!(RbsType::FxoLoopStart.bits(TxSig::OffHook).value(), 0b1111);
        // Office (fxs port): idle A=0 B=1, ringing B=0.
        assert_eq!(RbsType::FxsLoopStart.bits(TxSig::OnHook).value(), 0b0101);
        assert_eq!(RbsType::FxsLoopStart.bits(TxSig::Start).value(), 0b0000);
        assert_eq!(RbsType::FxoLoopStart.decode(Abcd::new(0b0000)), RxSig::Ring);
        assert_eq!(RbsType::FxoLoopStart.decode(Abcd::new(0b0101)), RxSig::OffHook);
        assert_eq!(RbsType::FxsLoopStart.decode(Abcd::new(0b1111)), RxSig::OffHook);
        assert_eq!(RbsType::FxsLoopStart.decode(Abcd::new(0b0101)), RxSig::OnHook);
    }

    #[test]
    fn ground_start_channel_bank_patterns_follow_dahdi() {
        // Station asks with ring ground (A=1 B=0), office answers with tip ground (A=0).
        assert_eq!(RbsType::FxoGroundStart.bits(TxSig::Start).value(), 0b1010);
        assert_eq!(RbsType::FxsGroundStart.decode(Abcd::new(0b1010)), RxSig::Start);
        assert_eq!(RbsType::FxsGroundStart.bits(TxSig::OnHook).value(), 0b1111, "office idle: tip open");
        assert_eq!(RbsType::FxsGroundStart.bits(TxSig::OffHook).value(), 0b0101, "office seized: tip ground");
        assert_eq!(RbsType::FxoGroundStart.decode(Abcd::new(0b1111)), RxSig::OnHook);
        assert_eq!(RbsType::FxoGroundStart.decode(Abcd::new(0b0101)), RxSig::OffHook);
        assert_eq!(RbsType::FxoGroundStart.decode(Abcd::new(0b0000)), RxSig::Ring);
    }

    #[test]
    fn kewl_start_office_denies_battery_with_all_ones() {
        assert_eq!(RbsType::FxsKewlStart.bits(TxSig::Kewl).value(), 0b1111);
        assert_eq!(RbsType::FxoKewlStart.decode(Abcd::new(0b1111)), RxSig::OnHook);
    }

    #[test]
    fn busy_out_patterns_keep_calls_away() {
        assert_eq!(RbsType::Em.tx().busy_out, RbsType::Em.bits(TxSig::OffHook));
        assert_eq!(RbsType::FxoGroundStart.tx().busy_out, RbsType::FxoGroundStart.bits(TxSig::OffHook));
        assert_eq!(RbsType::FxsLoopStart.tx().busy_out, RbsType::FxsLoopStart.bits(TxSig::OnHook));
    }

    #[test]
    fn debouncer_reports_a_change_only_after_it_holds() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = Debouncer::new(Duration::from_millis(20), Abcd::new(0));
        assert_eq!(d.push(Abcd::new(0b1111), ms(0)), None);
        assert_eq!(d.poll_timeout(), Some(ms(20)));
        assert_eq!(d.handle_timeout(ms(19)), None);
        assert_eq!(d.handle_timeout(ms(20)), Some(Abcd::new(0b1111)));
        assert_eq!(d.stable(), Abcd::new(0b1111));
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn debouncer_ignores_a_hit_shorter_than_the_debounce_time() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = Debouncer::new(Duration::from_millis(20), Abcd::new(0));
        d.push(Abcd::new(0b1000), ms(0));
        d.push(Abcd::new(0b0000), ms(10));
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(ms(100)), None);
        // A flapping pattern restarts the clock.
        d.push(Abcd::new(0b1000), ms(100));
        d.push(Abcd::new(0b0100), ms(110));
        assert_eq!(d.handle_timeout(ms(125)), None);
        assert_eq!(d.handle_timeout(ms(130)), Some(Abcd::new(0b0100)));
    }

    #[test]
    fn zero_debounce_reports_immediately() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Duration::ZERO, Abcd::new(0));
        assert_eq!(d.push(Abcd::new(0b1000), t0), Some(Abcd::new(0b1000)));
    }
}
