//! T1 channel-bank lines (loop/ground/kewl start): not written yet; see the module docs of `cas`.
