//! Back-to-back tests of the CAS cores (being written).
