//! The safe DAHDI layer: spans, channels, audio, events, HDLC and span
//! configuration over `dahdi-sys`. Filled by issue 3.
