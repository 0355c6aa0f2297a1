//! Address signalling formats on E&M trunks: plain digits, Feature Group B
//! and Feature Group D, as MF (or DTMF) digit strings.
//!
//! Strings use chan_dahdi's MF letters: `*` = KP, `#` = ST (`A`, `B`, `C` =
//! ST', ST'', ST''' are accepted as ST on receive).
//!
//! * Feature Group B: `KP DNIS ST` = `*DNIS#`.
//! * Feature Group D: `KP II ANI ST KP DNIS ST` = `*IIANI#*DNIS#`, where II is
//!   the two-digit ANI information digits (00 = ordinary line, 02 = ANI not
//!   available, in which case the first block is just `*02#`). This is the
//!   string chan_dahdi's `featdmf` sends (`M*00%s#*%s#`, or `M*02#*%s#`
//!   without a calling number) and parses on receive. The terminating switch
//!   answers the seizure with a wink and, with
//!   [`AddressFormat::FeatureGroupD`]`{ ack_wink: true }`, acknowledges the
//!   complete address with a second wink (the "double wink" of equal-access
//!   trunks).
//! * Plain: the number as-is in DTMF; framed `*number#` in MF (an MF
//!   receiver needs KP to arm).

/// How the address is framed on a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFormat {
    /// Digits only. On receive the number ends with ST (MF), with
    /// `terminator` (DTMF), after `max_digits`, or after the inter-digit
    /// timeout.
    Plain {
        /// End the number after this many digits.
        max_digits: Option<usize>,
        /// DTMF end-of-number character (e.g. `#`); not part of the number.
        terminator: Option<char>,
    },
    /// Feature Group B: `*DNIS#`.
    FeatureGroupB,
    /// Feature Group D: `*IIANI#*DNIS#`.
    FeatureGroupD {
        /// Acknowledge the complete address with a second wink (terminating)
        /// and wait for it (originating).
        ack_wink: bool,
    },
}

impl Default for AddressFormat {
    fn default() -> Self {
        AddressFormat::Plain { max_digits: None, terminator: None }
    }
}

/// Calling number with its ANI information digits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ani {
    /// Information digits ("II"), two digits: 00 ordinary line, 02 ANI not
    /// available, 27 coin, 29 prison, 61/62/63 wireless, 70 pay station…
    pub ii: String,
    /// The calling number (10 digits in North America); empty when not
    /// available.
    pub number: String,
}

/// A received or to-be-sent address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// Called number (DNIS).
    pub dnis: String,
    /// Calling number, when the format carries it.
    pub ani: Option<Ani>,
}

/// An address that can't be framed, or received digits that make no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The called number is empty.
    #[error("empty called number")]
    EmptyNumber,
    /// A character the digit kind can't send.
    #[error("invalid digit {0:?}")]
    InvalidDigit(char),
    /// II must be exactly two decimal digits.
    #[error("ANI information digits must be two decimal digits, got {0:?}")]
    InvalidIi(String),
    /// Received digits don't follow the format (e.g. no KP where one must be).
    #[error("received digits {0:?} do not follow the format")]
    Malformed(String),
    /// More digits than any real address.
    #[error("address longer than {MAX_ADDRESS} characters")]
    TooLong,
}

/// Longest received address string accepted (a flood is cut off here).
pub const MAX_ADDRESS: usize = 64;

fn is_st(c: char) -> bool {
    matches!(c, '#' | 'A' | 'B' | 'C')
}

fn check_decimal(s: &str) -> Result<(), AddressError> {
    match s.chars().find(|c| !c.is_ascii_digit()) {
        Some(c) => Err(AddressError::InvalidDigit(c)),
        None => Ok(()),
    }
}

impl AddressFormat {
    /// The digit string the originating side sends for `address`.
    ///
    /// `mf` selects MF framing for plain numbers. FGD without an ANI sends
    /// II = 02 and no number.
    pub fn encode(&self, address: &Address, mf: bool) -> Result<String, AddressError> {
        if address.dnis.is_empty() {
            return Err(AddressError::EmptyNumber);
        }
        if address.dnis.len() > MAX_ADDRESS {
            return Err(AddressError::TooLong);
        }
        match self {
            AddressFormat::Plain { .. } => {
                if mf {
                    check_decimal(&address.dnis)?;
                    Ok(format!("*{}#", address.dnis))
                } else {
                    match address.dnis.chars().find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')) {
                        Some(c) => Err(AddressError::InvalidDigit(c)),
                        None => Ok(address.dnis.clone()),
                    }
                }
            }
            AddressFormat::FeatureGroupB => {
                check_decimal(&address.dnis)?;
                Ok(format!("*{}#", address.dnis))
            }
            AddressFormat::FeatureGroupD { .. } => {
                check_decimal(&address.dnis)?;
                let (ii, number) = match &address.ani {
                    Some(a) if !a.number.is_empty() => (a.ii.as_str(), a.number.as_str()),
                    Some(a) if !a.ii.is_empty() => (a.ii.as_str(), ""),
                    _ => ("02", ""),
                };
                if ii.len() != 2 || !ii.chars().all(|c| c.is_ascii_digit()) {
                    return Err(AddressError::InvalidIi(ii.to_string()));
                }
                check_decimal(number)?;
                Ok(format!("*{ii}{number}#*{}#", address.dnis))
            }
        }
    }
}

/// What the collector needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collect {
    /// Not complete yet.
    More,
    /// The address is complete.
    Complete(Address),
}

/// Collects received digits for one call and says when the address is
/// complete. Never panics on any input.
#[derive(Debug, Clone)]
pub struct AddressCollector {
    format: AddressFormat,
    mf: bool,
    buf: String,
}

impl AddressCollector {
    /// A collector for `format`; `mf` tells whether digits arrive as MF (KP/ST framed).
    pub fn new(format: AddressFormat, mf: bool) -> AddressCollector {
        AddressCollector { format, mf, buf: String::new() }
    }

    /// Digits received so far.
    pub fn received(&self) -> &str {
        &self.buf
    }

    /// Appends received digits and checks for completion.
    pub fn push(&mut self, digits: &str) -> Result<Collect, AddressError> {
        for c in digits.chars() {
            if self.buf.len() >= MAX_ADDRESS {
                return Err(AddressError::TooLong);
            }
            self.buf.push(c.to_ascii_uppercase());
            if let Some(done) = self.check()? {
                return Ok(Collect::Complete(done));
            }
        }
        Ok(Collect::More)
    }

    /// The address when digits stop coming (inter-digit timeout): only a
    /// plain number can end this way.
    pub fn finish_on_timeout(&self) -> Result<Address, AddressError> {
        match self.format {
            AddressFormat::Plain { .. } if !self.mf => {
                let dnis: String = self.buf.chars().filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')).collect();
                if dnis.is_empty() { Err(AddressError::EmptyNumber) } else { Ok(Address { dnis, ani: None }) }
            }
            AddressFormat::Plain { .. } => {
                let dnis: String = self.buf.chars().filter(|c| c.is_ascii_digit()).collect();
                if dnis.is_empty() { Err(AddressError::EmptyNumber) } else { Ok(Address { dnis, ani: None }) }
            }
            _ => Err(AddressError::Malformed(self.buf.clone())),
        }
    }

    /// KP-framed blocks seen so far: (digits of each closed block, whether a block is open).
    fn blocks(&self) -> Result<(Vec<String>, bool), AddressError> {
        let mut closed = Vec::new();
        let mut open: Option<String> = None;
        for c in self.buf.chars() {
            match (c, open.as_mut()) {
                ('*', _) => open = Some(String::new()), // KP (re)starts a block
                (c, Some(_)) if is_st(c) => closed.push(open.take().unwrap_or_default()),
                (c, Some(b)) if c.is_ascii_digit() => b.push(c),
                (c, None) if c.is_ascii_digit() || is_st(c) => return Err(AddressError::Malformed(self.buf.clone())),
                (c, _) => return Err(AddressError::InvalidDigit(c)),
            }
        }
        Ok((closed, open.is_some()))
    }

    fn check(&self) -> Result<Option<Address>, AddressError> {
        match self.format {
            AddressFormat::Plain { max_digits, terminator } if !self.mf => {
                if let Some(t) = terminator
                    && self.buf.ends_with(t)
                {
                    let dnis = self.buf[..self.buf.len() - t.len_utf8()].to_string();
                    return if dnis.is_empty() { Err(AddressError::EmptyNumber) } else { Ok(Some(Address { dnis, ani: None })) };
                }
                if let Some(c) = self.buf.chars().find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')) {
                    return Err(AddressError::InvalidDigit(c));
                }
                Ok(max_digits.filter(|&m| m > 0 && self.buf.len() >= m).map(|_| Address { dnis: self.buf.clone(), ani: None }))
            }
            AddressFormat::Plain { max_digits, .. } => {
                let (closed, open) = self.blocks()?;
                if let Some(dnis) = closed.into_iter().next() {
                    return if dnis.is_empty() { Err(AddressError::EmptyNumber) } else { Ok(Some(Address { dnis, ani: None })) };
                }
                let digits = self.buf.chars().filter(|c| c.is_ascii_digit()).count();
                let _ = open;
                Ok(max_digits.filter(|&m| m > 0 && digits >= m).map(|_| Address { dnis: self.buf.chars().filter(|c| c.is_ascii_digit()).collect(), ani: None }))
            }
            AddressFormat::FeatureGroupB => {
                let (closed, _) = self.blocks()?;
                match closed.into_iter().next() {
                    Some(d) if d.is_empty() => Err(AddressError::EmptyNumber),
                    Some(dnis) => Ok(Some(Address { dnis, ani: None })),
                    None => Ok(None),
                }
            }
            AddressFormat::FeatureGroupD { .. } => {
                let (closed, _) = self.blocks()?;
                if closed.len() < 2 {
                    return Ok(None);
                }
                let first = &closed[0];
                if first.len() < 2 {
                    return Err(AddressError::InvalidIi(first.clone()));
                }
                let dnis = closed[1].clone();
                if dnis.is_empty() {
                    return Err(AddressError::EmptyNumber);
                }
                Ok(Some(Address { dnis, ani: Some(Ani { ii: first[..2].to_string(), number: first[2..].to_string() }) }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fgd() -> AddressFormat {
        AddressFormat::FeatureGroupD { ack_wink: false }
    }

    #[test]
    fn fgd_encodes_ii_ani_then_dnis_as_chan_dahdi_does() {
        let a = Address { dnis: "8005551212".into(), ani: Some(Ani { ii: "00".into(), number: "2125551234".into() }) };
        assert_eq!(fgd().encode(&a, true).unwrap(), "*002125551234#*8005551212#");
        let none = Address { dnis: "911".into(), ani: None };
        assert_eq!(fgd().encode(&none, true).unwrap(), "*02#*911#");
    }

    #[test]
    fn fgd_rejects_bad_ii_and_non_decimal_numbers() {
        let a = Address { dnis: "1".into(), ani: Some(Ani { ii: "7".into(), number: "5".into() }) };
        assert_eq!(fgd().encode(&a, true), Err(AddressError::InvalidIi("7".into())));
        let b = Address { dnis: "12a".into(), ani: None };
        assert_eq!(fgd().encode(&b, true), Err(AddressError::InvalidDigit('a')));
        assert_eq!(fgd().encode(&Address::default(), true), Err(AddressError::EmptyNumber));
    }

    #[test]
    fn fgd_collector_completes_after_the_second_st() {
        let mut c = AddressCollector::new(fgd(), true);
        assert_eq!(c.push("*00212555").unwrap(), Collect::More);
        assert_eq!(c.push("1234#*800").unwrap(), Collect::More);
        let done = c.push("5551212#").unwrap();
        assert_eq!(done, Collect::Complete(Address { dnis: "8005551212".into(), ani: Some(Ani { ii: "00".into(), number: "2125551234".into() }) }));
    }

    #[test]
    fn fgd_collector_accepts_st_prime_and_no_ani() {
        let mut c = AddressCollector::new(fgd(), true);
        let done = c.push("*02A*911B").unwrap();
        assert_eq!(done, Collect::Complete(Address { dnis: "911".into(), ani: Some(Ani { ii: "02".into(), number: String::new() }) }));
    }

    #[test]
    fn fgb_is_kp_dnis_st() {
        let a = Address { dnis: "5551212".into(), ani: None };
        assert_eq!(AddressFormat::FeatureGroupB.encode(&a, true).unwrap(), "*5551212#");
        let mut c = AddressCollector::new(AddressFormat::FeatureGroupB, true);
        assert_eq!(c.push("*5551212#").unwrap(), Collect::Complete(a));
    }

    #[test]
    fn digits_before_kp_are_malformed() {
        let mut c = AddressCollector::new(AddressFormat::FeatureGroupB, true);
        assert!(matches!(c.push("12*3#"), Err(AddressError::Malformed(_))));
    }

    #[test]
    fn plain_dtmf_ends_on_terminator_max_digits_or_timeout() {
        let f = AddressFormat::Plain { max_digits: Some(4), terminator: Some('#') };
        let mut c = AddressCollector::new(f, false);
        assert_eq!(c.push("12#").unwrap(), Collect::Complete(Address { dnis: "12".into(), ani: None }));
        let mut c = AddressCollector::new(f, false);
        assert_eq!(c.push("1234").unwrap(), Collect::Complete(Address { dnis: "1234".into(), ani: None }));
        let mut c = AddressCollector::new(AddressFormat::default(), false);
        assert_eq!(c.push("555").unwrap(), Collect::More);
        assert_eq!(c.finish_on_timeout().unwrap().dnis, "555");
        assert_eq!(AddressCollector::new(AddressFormat::default(), false).finish_on_timeout(), Err(AddressError::EmptyNumber));
    }

    #[test]
    fn plain_mf_is_framed_with_kp_st() {
        let a = Address { dnis: "4100".into(), ani: None };
        assert_eq!(AddressFormat::default().encode(&a, true).unwrap(), "*4100#");
        assert_eq!(AddressFormat::default().encode(&a, false).unwrap(), "4100");
        let mut c = AddressCollector::new(AddressFormat::default(), true);
        assert_eq!(c.push("*4100#").unwrap(), Collect::Complete(a));
    }

    #[test]
    fn a_digit_flood_is_cut_off() {
        let mut c = AddressCollector::new(fgd(), true);
        let flood = "*".to_string() + &"1".repeat(200);
        assert_eq!(c.push(&flood), Err(AddressError::TooLong));
    }

    #[test]
    fn fgd_with_short_ii_block_is_rejected() {
        let mut c = AddressCollector::new(fgd(), true);
        assert_eq!(c.push("*0#*911#"), Err(AddressError::InvalidIi("0".into())));
    }
}
