//! Line events as a typed enum, decoded from DAHDI_GETEVENT values.

use dahdi_sys as d;

/// Something that happened on a channel's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", content = "value", rename_all = "snake_case")]
pub enum LineEvent {
    /// The far end went on-hook (a phone hung up, a trunk cleared).
    OnHook,
    /// Off-hook, or for an FXO port the end of a ring burst.
    RingOffHook,
    /// A wink (trunks) or hook flash (phones).
    WinkFlash,
    /// An alarm was raised on the span or channel.
    Alarm,
    /// Alarms cleared.
    NoAlarm,
    /// HDLC: a frame was aborted.
    HdlcAbort,
    /// HDLC: receive overrun.
    HdlcOverrun,
    /// HDLC: a frame with a bad FCS was received and dropped.
    BadFcs,
    /// A DAHDI_DIAL string finished.
    DialComplete,
    /// The ringer was turned on (ring cadence, FXS port).
    RingerOn,
    /// The ringer was turned off.
    RingerOff,
    /// A non-blocking wink/flash/start finished.
    HookComplete,
    /// CAS: the received ABCD bits changed.
    BitsChanged,
    /// Pulse dialling started.
    PulseStart,
    TimerExpired,
    TimerPing,
    /// Battery polarity reversed (FXO port).
    Polarity,
    /// Ring voltage detected (FXO port), before the burst ends.
    RingBegin,
    /// The echo canceller disabled itself (fax or modem tone).
    EcDisabled,
    /// The channel was removed.
    Removed,
    NeonMwiActive,
    NeonMwiInactive,
    TxCedDetected,
    RxCedDetected,
    TxCngDetected,
    RxCngDetected,
    EcNlpDisabled,
    EcNlpEnabled,
    ReadOverrun,
    WriteUnderrun,
    /// A pulse-dialled digit.
    PulseDigit(char),
    /// Hardware DTMF detection: key down.
    DtmfDown(char),
    /// Hardware DTMF detection: key up.
    DtmfUp(char),
    /// A value this version does not know.
    Unknown(i32),
}

impl LineEvent {
    /// Decode a DAHDI_GETEVENT value; `None` for DAHDI_EVENT_NONE.
    pub fn from_raw(v: i32) -> Option<LineEvent> {
        let digit = |v: i32| char::from((v & 0xff) as u8);
        let u = v as u32;
        if u & d::DAHDI_EVENT_PULSEDIGIT != 0 {
            return Some(LineEvent::PulseDigit(digit(v)));
        }
        if u & d::DAHDI_EVENT_DTMFDOWN != 0 {
            return Some(LineEvent::DtmfDown(digit(v)));
        }
        if u & d::DAHDI_EVENT_DTMFUP != 0 {
            return Some(LineEvent::DtmfUp(digit(v)));
        }
        Some(match u {
            d::DAHDI_EVENT_NONE => return None,
            d::DAHDI_EVENT_ONHOOK => LineEvent::OnHook,
            d::DAHDI_EVENT_RINGOFFHOOK => LineEvent::RingOffHook,
            d::DAHDI_EVENT_WINKFLASH => LineEvent::WinkFlash,
            d::DAHDI_EVENT_ALARM => LineEvent::Alarm,
            d::DAHDI_EVENT_NOALARM => LineEvent::NoAlarm,
            d::DAHDI_EVENT_ABORT => LineEvent::HdlcAbort,
            d::DAHDI_EVENT_OVERRUN => LineEvent::HdlcOverrun,
            d::DAHDI_EVENT_BADFCS => LineEvent::BadFcs,
            d::DAHDI_EVENT_DIALCOMPLETE => LineEvent::DialComplete,
            d::DAHDI_EVENT_RINGERON => LineEvent::RingerOn,
            d::DAHDI_EVENT_RINGEROFF => LineEvent::RingerOff,
            d::DAHDI_EVENT_HOOKCOMPLETE => LineEvent::HookComplete,
            d::DAHDI_EVENT_BITSCHANGED => LineEvent::BitsChanged,
            d::DAHDI_EVENT_PULSE_START => LineEvent::PulseStart,
            d::DAHDI_EVENT_TIMER_EXPIRED => LineEvent::TimerExpired,
            d::DAHDI_EVENT_TIMER_PING => LineEvent::TimerPing,
            d::DAHDI_EVENT_POLARITY => LineEvent::Polarity,
            d::DAHDI_EVENT_RINGBEGIN => LineEvent::RingBegin,
            d::DAHDI_EVENT_EC_DISABLED => LineEvent::EcDisabled,
            d::DAHDI_EVENT_REMOVED => LineEvent::Removed,
            d::DAHDI_EVENT_NEONMWI_ACTIVE => LineEvent::NeonMwiActive,
            d::DAHDI_EVENT_NEONMWI_INACTIVE => LineEvent::NeonMwiInactive,
            d::DAHDI_EVENT_TX_CED_DETECTED => LineEvent::TxCedDetected,
            d::DAHDI_EVENT_RX_CED_DETECTED => LineEvent::RxCedDetected,
            d::DAHDI_EVENT_TX_CNG_DETECTED => LineEvent::TxCngDetected,
            d::DAHDI_EVENT_RX_CNG_DETECTED => LineEvent::RxCngDetected,
            d::DAHDI_EVENT_EC_NLP_DISABLED => LineEvent::EcNlpDisabled,
            d::DAHDI_EVENT_EC_NLP_ENABLED => LineEvent::EcNlpEnabled,
            d::DAHDI_EVENT_READ_OVERRUN => LineEvent::ReadOverrun,
            d::DAHDI_EVENT_WRITE_UNDERRUN => LineEvent::WriteUnderrun,
            _ => LineEvent::Unknown(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_decoded_from_the_flag_bits() {
        assert_eq!(LineEvent::from_raw((d::DAHDI_EVENT_PULSEDIGIT | b'7' as u32) as i32), Some(LineEvent::PulseDigit('7')));
        assert_eq!(LineEvent::from_raw((d::DAHDI_EVENT_DTMFDOWN | b'#' as u32) as i32), Some(LineEvent::DtmfDown('#')));
        assert_eq!(LineEvent::from_raw(0), None);
        assert_eq!(LineEvent::from_raw(2), Some(LineEvent::RingOffHook));
        assert_eq!(LineEvent::from_raw(999), Some(LineEvent::Unknown(999)));
    }
}
