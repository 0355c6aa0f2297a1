//! LAPD frames: decoding never panics, and every accepted frame
//! re-emits to exactly the same octets.

#![no_main]

use isdn_q931::wire::lapd::{Frame, FrameRepr, FrmrInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let view = Frame::new_unchecked(data);
    let _ = (
        view.sapi(),
        view.cr(),
        view.tei(),
        view.format(),
        view.ns(),
        view.nr(),
    );
    let _ = (view.poll_final(), view.info(), view.header_len());
    let _ = FrameRepr::parse(&view);
    let _ = FrmrInfo::parse(data);
    if let Ok(frame) = FrameRepr::parse_bytes(data) {
        assert_eq!(frame.buffer_len(), data.len());
        assert_eq!(frame.to_vec(), data);
    }
});
