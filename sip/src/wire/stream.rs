//! Message framing on stream transports (TCP, TLS): RFC 3261 §18.3 says
//! Content-Length delimits each message; RFC 5626 §3.5.1 CRLF keepalives
//! (a double-CRLF ping answered by a single-CRLF pong) are recognised.

use super::header::same_name;
use super::parse::find;

/// One unit taken off a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete message (headers and exactly Content-Length body bytes);
    /// parse it with [`super::MessageView::parse_with`] and
    /// `require_content_length: true`.
    Message(Vec<u8>),
    /// A double-CRLF keepalive ping; answer with a single CRLF ([`StreamFramer::PONG`]).
    Ping,
    /// A single-CRLF keepalive pong.
    Pong,
}

/// Why the stream can no longer be framed; the shell closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// A message (or its headers) exceeds the size limit.
    #[error("message exceeds {0} bytes")]
    TooLarge(usize),
    /// Content-Length is not a number, so the message end is unknown.
    #[error("Content-Length is not a number")]
    BadContentLength,
}

/// Accumulates stream bytes and cuts them into [`Frame`]s.
#[derive(Debug, Clone)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max: usize,
}

impl StreamFramer {
    /// The keepalive pong to send in reply to [`Frame::Ping`].
    pub const PONG: &'static [u8] = b"\r\n";
    /// The keepalive ping a client sends.
    pub const PING: &'static [u8] = b"\r\n\r\n";

    /// A framer refusing messages over `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> StreamFramer {
        StreamFramer { buf: Vec::new(), max: max_message_size }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes held that do not yet form a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        if self.buf.starts_with(Self::PING) {
            self.buf.drain(..4);
            return Ok(Some(Frame::Ping));
        }
        if self.buf.starts_with(b"\r\n") && !self.buf[2..].starts_with(b"\r") {
            self.buf.drain(..2);
            return Ok(Some(Frame::Pong));
        }
        if self.buf.starts_with(b"\r\n\r") {
            return Ok(None); // the rest of a ping is on its way
        }
        let Some(head_end) = find(&self.buf, b"\r\n\r\n") else {
            if self.buf.len() > self.max {
                return Err(FramingError::TooLarge(self.max));
            }
            return Ok(None);
        };
        let mut len = 0usize;
        for line in self.buf[..head_end].split(|&c| c == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&c| c == b':') else { continue };
            let Ok(name) = std::str::from_utf8(&line[..colon]) else { continue };
            if same_name(name.trim_end(), "Content-Length") {
                let v = std::str::from_utf8(&line[colon + 1..]).map_err(|_| FramingError::BadContentLength)?.trim();
                if v.is_empty() || v.len() > 9 || !v.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(FramingError::BadContentLength);
                }
                len = v.parse().map_err(|_| FramingError::BadContentLength)?;
            }
        }
        let total = head_end + 4 + len;
        if total > self.max {
            return Err(FramingError::TooLarge(self.max));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let msg: Vec<u8> = self.buf.drain(..total).collect();
        Ok(Some(Frame::Message(msg)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_joined_messages_and_keepalives() {
        let m1 = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
        let m2 = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n";
        let mut f = StreamFramer::new(1000);
        f.push(b"\r\n\r\n");
        f.push(&m1[..10]);
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Ping));
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(&m1[10..]);
        f.push(m2);
        f.push(b"\r\n");
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Message(m1.to_vec())));
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Message(m2.to_vec())));
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Pong));
        assert_eq!(f.next_frame().unwrap(), None);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn oversized_or_unframeable_streams_fail() {
        let mut f = StreamFramer::new(20);
        f.push(&[b'a'; 30]);
        assert_eq!(f.next_frame(), Err(FramingError::TooLarge(20)));
        let mut f = StreamFramer::new(1000);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::BadContentLength));
        let mut f = StreamFramer::new(100);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 500\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::TooLarge(100)));
    }
}
