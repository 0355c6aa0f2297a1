//! SDP offer/answer (placeholder).
