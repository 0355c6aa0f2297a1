//! HDLC frame check sequence (FCS-16, ITU-T Q.921 §2.7 / ISO 3309).
//!
//! DAHDI hands the reader each frame followed by its two FCS bytes, and
//! expects writers to append two placeholder bytes that it replaces (or that
//! the hardware HDLC controller replaces). The simulator does the same.

/// CRC-16/X.25 over `data`: reflected polynomial 0x8408, initial 0xFFFF,
/// final complement.
pub fn fcs16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x8408 } else { crc >> 1 };
        }
    }
    !crc
}

/// The frame followed by its FCS, low byte first (as transmitted).
pub fn append_fcs(frame: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(frame.len() + 2);
    v.extend_from_slice(frame);
    let f = fcs16(frame);
    v.push((f & 0xff) as u8);
    v.push((f >> 8) as u8);
    v
}

/// True when the last two bytes are the correct FCS of the rest.
pub fn check_fcs(frame_with_fcs: &[u8]) -> bool {
    if frame_with_fcs.len() < 2 {
        return false;
    }
    let (body, fcs) = frame_with_fcs.split_at(frame_with_fcs.len() - 2);
    let f = fcs16(body);
    fcs[0] == (f & 0xff) as u8 && fcs[1] == (f >> 8) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fcs_matches_the_x25_check_value() {
        // CRC-16/X.25 check value for "123456789" is 0x906E.
        assert_eq!(fcs16(b"123456789"), 0x906e);
    }

    #[test]
    fn appended_fcs_checks() {
        let f = append_fcs(&[0x00, 0x01, 0x7f]);
        assert!(check_fcs(&f));
        let mut bad = f.clone();
        bad[1] ^= 1;
        assert!(!check_fcs(&bad));
        assert!(!check_fcs(&[1]));
    }
}
