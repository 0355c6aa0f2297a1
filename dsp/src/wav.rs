//! Minimal WAV (RIFF) reader and writer for 8 kHz mono telephony audio.
//!
//! Writes 16-bit PCM (format 1) and 8-bit G.711 (format 7 µ-law, format 6
//! A-law). Reads the same three, also inside `WAVE_FORMAT_EXTENSIBLE`,
//! returning linear samples. Anything else (other rates, stereo, other sample
//! formats, broken headers) is a [`WavError`]; no input makes the reader
//! panic or allocate more than the input's size.

use std::io::{self, Read, Write};

use crate::SAMPLE_RATE;
use crate::g711::Law;

const TAG_PCM: u16 = 0x0001;
const TAG_ALAW: u16 = 0x0006;
const TAG_MULAW: u16 = 0x0007;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

/// Sample encoding of a WAV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WavFormat {
    /// 16-bit signed little-endian PCM.
    Pcm16,
    /// 8-bit G.711 µ-law.
    Mulaw,
    /// 8-bit G.711 A-law.
    Alaw,
}

/// A decoded WAV file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wav {
    /// How the samples were stored.
    pub format: WavFormat,
    /// Linear samples (G.711 files are decoded).
    pub samples: Vec<i16>,
}

/// Why a WAV file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// The reader failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The file does not start with `RIFF`.
    #[error("not a RIFF file")]
    NotRiff,
    /// The RIFF form type is not `WAVE`.
    #[error("RIFF file is not WAVE")]
    NotWave,
    /// The input ends inside the named structure.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// No `fmt ` chunk before the `data` chunk.
    #[error("missing fmt chunk")]
    MissingFormat,
    /// No `data` chunk.
    #[error("missing data chunk")]
    MissingData,
    /// The `fmt ` chunk is too short or inconsistent.
    #[error("malformed fmt chunk")]
    BadFormatChunk,
    /// A sample format other than PCM, µ-law or A-law.
    #[error("unsupported format tag {0:#06x}")]
    UnsupportedFormat(u16),
    /// Not mono.
    #[error("unsupported channel count {0} (need 1)")]
    UnsupportedChannels(u16),
    /// Not 8 kHz.
    #[error("unsupported sample rate {0} Hz (need 8000)")]
    UnsupportedSampleRate(u32),
    /// Bits per sample that do not go with the format.
    #[error("unsupported {bits} bits per sample for {format:?}")]
    UnsupportedBits {
        /// The format.
        format: WavFormat,
        /// Bits per sample in the file.
        bits: u16,
    },
}

/// Write 8 kHz mono 16-bit PCM.
pub fn write_wav<W: Write>(mut w: W, samples: &[i16]) -> io::Result<()> {
    let data_len = samples
        .len()
        .checked_mul(2)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n <= u32::MAX - 44)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "too many samples for WAV"))?;
    let mut head = Vec::with_capacity(44);
    head.extend_from_slice(b"RIFF");
    head.extend_from_slice(&(36 + data_len).to_le_bytes());
    head.extend_from_slice(b"WAVE");
    head.extend_from_slice(b"fmt ");
    head.extend_from_slice(&16u32.to_le_bytes());
    push_fmt(&mut head, TAG_PCM, 2, 16);
    head.extend_from_slice(b"data");
    head.extend_from_slice(&data_len.to_le_bytes());
    w.write_all(&head)?;
    let mut buf = Vec::with_capacity(samples.len().min(4096) * 2);
    for chunk in samples.chunks(4096) {
        buf.clear();
        for s in chunk {
            buf.extend_from_slice(&s.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

/// Write 8 kHz mono 8-bit G.711 codes (format 7 for µ-law, 6 for A-law).
pub fn write_wav_law<W: Write>(mut w: W, codes: &[u8], law: Law) -> io::Result<()> {
    let data_len = u32::try_from(codes.len())
        .ok()
        .filter(|&n| n <= u32::MAX - 60)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "too many samples for WAV"))?;
    let pad = data_len % 2;
    let tag = match law {
        Law::Mulaw => TAG_MULAW,
        Law::Alaw => TAG_ALAW,
    };
    let mut head = Vec::with_capacity(58);
    head.extend_from_slice(b"RIFF");
    // "WAVE" + fmt (8 + 18) + fact (8 + 4) + data header (8) + data + pad.
    head.extend_from_slice(&(4 + 26 + 12 + 8 + data_len + pad).to_le_bytes());
    head.extend_from_slice(b"WAVE");
    head.extend_from_slice(b"fmt ");
    head.extend_from_slice(&18u32.to_le_bytes());
    push_fmt(&mut head, tag, 1, 8);
    head.extend_from_slice(&0u16.to_le_bytes()); // cbSize
    head.extend_from_slice(b"fact");
    head.extend_from_slice(&4u32.to_le_bytes());
    head.extend_from_slice(&data_len.to_le_bytes());
    head.extend_from_slice(b"data");
    head.extend_from_slice(&data_len.to_le_bytes());
    w.write_all(&head)?;
    w.write_all(codes)?;
    if pad == 1 {
        w.write_all(&[0])?;
    }
    Ok(())
}

fn push_fmt(out: &mut Vec<u8>, tag: u16, block_align: u16, bits: u16) {
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * u32::from(block_align)).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
}

/// Read exactly `buf.len()` bytes; `Ok(false)` if the input ends first.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parse a `fmt ` chunk body into the sample format.
fn parse_fmt(body: &[u8]) -> Result<WavFormat, WavError> {
    if body.len() < 16 {
        return Err(WavError::BadFormatChunk);
    }
    let mut tag = le16(body, 0);
    let channels = le16(body, 2);
    let rate = le32(body, 4);
    let bits = le16(body, 14);
    if tag == TAG_EXTENSIBLE {
        // cbSize(2) validBits(2) channelMask(4) subFormat GUID(16): the GUID
        // starts with the plain format tag.
        if body.len() < 40 {
            return Err(WavError::BadFormatChunk);
        }
        tag = le16(body, 24);
    }
    let format = match tag {
        TAG_PCM => WavFormat::Pcm16,
        TAG_MULAW => WavFormat::Mulaw,
        TAG_ALAW => WavFormat::Alaw,
        other => return Err(WavError::UnsupportedFormat(other)),
    };
    if channels != 1 {
        return Err(WavError::UnsupportedChannels(channels));
    }
    if rate != SAMPLE_RATE {
        return Err(WavError::UnsupportedSampleRate(rate));
    }
    let expected_bits = if format == WavFormat::Pcm16 { 16 } else { 8 };
    if bits != expected_bits {
        return Err(WavError::UnsupportedBits { format, bits });
    }
    Ok(format)
}

/// Read an 8 kHz mono WAV file (16-bit PCM, µ-law or A-law).
///
/// Chunks other than `fmt ` and `data` are skipped. A data chunk size of
/// `0xFFFFFFFF` (written by some streaming recorders) means "until the end of
/// the input"; any other data chunk that ends early is [`WavError::Truncated`].
pub fn read_wav<R: Read>(mut r: R) -> Result<Wav, WavError> {
    let mut riff = [0u8; 12];
    if !read_full(&mut r, &mut riff)? {
        return Err(if riff.starts_with(b"RIFF") || riff.iter().all(|&b| b == 0) { WavError::Truncated("RIFF header") } else { WavError::NotRiff });
    }
    if &riff[..4] != b"RIFF" {
        return Err(WavError::NotRiff);
    }
    if &riff[8..] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let mut format = None;
    loop {
        let mut header = [0u8; 8];
        if !read_full(&mut r, &mut header)? {
            return Err(if format.is_some() { WavError::MissingData } else { WavError::MissingFormat });
        }
        let id = [header[0], header[1], header[2], header[3]];
        let size = le32(&header, 4);
        match &id {
            b"fmt " => {
                let mut body = Vec::new();
                let got = (&mut r).take(u64::from(size)).read_to_end(&mut body)?;
                if got < size as usize {
                    return Err(WavError::Truncated("fmt chunk"));
                }
                format = Some(parse_fmt(&body)?);
                skip_pad(&mut r, size)?;
            }
            b"data" => {
                let format = format.ok_or(WavError::MissingFormat)?;
                let mut data = Vec::new();
                let got = (&mut r).take(u64::from(size)).read_to_end(&mut data)?;
                if got < size as usize && size != u32::MAX {
                    return Err(WavError::Truncated("data chunk"));
                }
                let samples = match format {
                    WavFormat::Pcm16 => data.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect(),
                    WavFormat::Mulaw => Law::Mulaw.decode_vec(&data),
                    WavFormat::Alaw => Law::Alaw.decode_vec(&data),
                };
                return Ok(Wav { format, samples });
            }
            _ => {
                let skipped = io::copy(&mut (&mut r).take(u64::from(size)), &mut io::sink())?;
                if skipped < u64::from(size) {
                    return Err(WavError::Truncated("chunk"));
                }
                skip_pad(&mut r, size)?;
            }
        }
    }
}

/// Chunks of odd size are followed by one pad byte (which may be missing at
/// the end of a file).
fn skip_pad<R: Read>(r: &mut R, size: u32) -> io::Result<()> {
    if size % 2 == 1 {
        let mut pad = [0u8; 1];
        read_full(r, &mut pad)?;
    }
    Ok(())
}

/// Read a WAV file held in memory.
pub fn read_wav_bytes(bytes: &[u8]) -> Result<Wav, WavError> {
    read_wav(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::Rng;

    fn pcm_file(samples: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        write_wav(&mut v, samples).unwrap();
        v
    }

    #[test]
    fn pcm16_round_trips() {
        let samples: Vec<i16> = (0..1001).map(|i| (i * 97 - 30_000) as i16).collect();
        let file = pcm_file(&samples);
        assert_eq!(file.len(), 44 + 2 * samples.len());
        assert_eq!(&file[..4], b"RIFF");
        assert_eq!(le32(&file, 4) as usize, file.len() - 8);
        let wav = read_wav_bytes(&file).unwrap();
        assert_eq!(wav.format, WavFormat::Pcm16);
        assert_eq!(wav.samples, samples);
    }

    #[test]
    fn ulaw_and_alaw_files_decode_to_linear() {
        let codes: Vec<u8> = (0..=255).collect();
        for law in [Law::Mulaw, Law::Alaw] {
            let mut file = Vec::new();
            write_wav_law(&mut file, &codes[..255], law).unwrap();
            assert_eq!(le32(&file, 4) as usize, file.len() - 8);
            assert_eq!(le16(&file, 20), if law == Law::Mulaw { 7 } else { 6 });
            let wav = read_wav_bytes(&file).unwrap();
            let expected: Vec<i16> = codes[..255].iter().map(|&c| law.decode(c)).collect();
            assert_eq!(wav.samples, expected);
            assert_eq!(wav.format, if law == Law::Mulaw { WavFormat::Mulaw } else { WavFormat::Alaw });
        }
    }

    #[test]
    fn unknown_chunks_are_skipped_and_extensible_is_understood() {
        let mut f = Vec::new();
        f.extend_from_slice(b"RIFF\0\0\0\0WAVE");
        f.extend_from_slice(b"LIST");
        f.extend_from_slice(&3u32.to_le_bytes());
        f.extend_from_slice(b"abc\0"); // odd chunk + pad
        f.extend_from_slice(b"fmt ");
        f.extend_from_slice(&40u32.to_le_bytes());
        push_fmt(&mut f, TAG_EXTENSIBLE, 2, 16);
        f.extend_from_slice(&22u16.to_le_bytes());
        f.extend_from_slice(&16u16.to_le_bytes());
        f.extend_from_slice(&4u32.to_le_bytes());
        f.extend_from_slice(&1u16.to_le_bytes());
        f.extend_from_slice(&[0; 14]);
        f.extend_from_slice(b"data");
        f.extend_from_slice(&4u32.to_le_bytes());
        f.extend_from_slice(&[1, 0, 0xFF, 0xFF]);
        let wav = read_wav_bytes(&f).unwrap();
        assert_eq!(wav.samples, vec![1, -1]);
    }

    #[test]
    fn streaming_data_size_reads_to_the_end() {
        let mut f = pcm_file(&[5, 6, 7]);
        f[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(read_wav_bytes(&f).unwrap().samples, vec![5, 6, 7]);
    }

    #[test]
    fn other_formats_are_clear_errors() {
        let base = pcm_file(&[0; 4]);
        let patch = |at: usize, bytes: &[u8]| {
            let mut f = base.clone();
            f[at..at + bytes.len()].copy_from_slice(bytes);
            read_wav_bytes(&f).unwrap_err()
        };
        assert!(matches!(patch(0, b"RIFX"), WavError::NotRiff));
        assert!(matches!(patch(8, b"AVI "), WavError::NotWave));
        assert!(matches!(patch(20, &3u16.to_le_bytes()), WavError::UnsupportedFormat(3)));
        assert!(matches!(patch(22, &2u16.to_le_bytes()), WavError::UnsupportedChannels(2)));
        assert!(matches!(patch(24, &16_000u32.to_le_bytes()), WavError::UnsupportedSampleRate(16_000)));
        assert!(matches!(patch(34, &8u16.to_le_bytes()), WavError::UnsupportedBits { bits: 8, .. }));
        assert!(matches!(patch(12, b"junk"), WavError::MissingFormat));
    }

    #[test]
    fn truncated_files_are_errors_at_every_length() {
        let file = pcm_file(&[1, 2, 3, 4]);
        for n in 0..file.len() {
            assert!(read_wav_bytes(&file[..n]).is_err(), "length {n}");
        }
        assert!(matches!(read_wav_bytes(&file[..30]), Err(WavError::Truncated("fmt chunk"))));
        assert!(matches!(read_wav_bytes(&file[..46]), Err(WavError::Truncated("data chunk"))));
        assert!(matches!(read_wav_bytes(&file[..36]), Err(WavError::MissingData)));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = Rng::new(1234);
        let good = pcm_file(&[100, -100, 200]);
        for i in 0..20_000 {
            let mut v: Vec<u8> = if i % 2 == 0 {
                let len = (rng.next_u64() % 80) as usize;
                (0..len).map(|_| rng.next_u64() as u8).collect()
            } else {
                let mut g = good.clone();
                for _ in 0..(1 + rng.next_u64() % 4) {
                    let at = (rng.next_u64() as usize) % g.len();
                    g[at] = rng.next_u64() as u8;
                }
                g
            };
            if i % 3 == 0 && v.len() >= 12 {
                v[..4].copy_from_slice(b"RIFF");
                v[8..12].copy_from_slice(b"WAVE");
            }
            let _ = read_wav_bytes(&v);
        }
    }

    #[test]
    fn huge_declared_sizes_do_not_allocate_beyond_the_input() {
        let mut f = Vec::new();
        f.extend_from_slice(b"RIFF\xff\xff\xff\xffWAVE");
        f.extend_from_slice(b"fmt ");
        f.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        f.extend_from_slice(&[0; 16]);
        assert!(matches!(read_wav_bytes(&f), Err(WavError::Truncated("fmt chunk"))));
    }

    #[test]
    fn writer_errors_propagate() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(write_wav(Full, &[1, 2, 3]).is_err());
        assert!(write_wav_law(Full, &[1, 2, 3], Law::Alaw).is_err());
    }
}
