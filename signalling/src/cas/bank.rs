//! T1 channel-bank lines (loop/ground/kewl start): bit patterns to and from the analog ports (being written).
