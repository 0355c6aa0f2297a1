//! LAPD frames and Q.931 messages on the wire. (In progress.)
