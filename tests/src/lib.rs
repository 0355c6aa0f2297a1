//! End-to-end tests that run tandem-sim (and later tandem and real SIP peers)
//! together. The tests live in `tests/tests/`; this library holds the shared
//! harness.
