//! The Q.921 LAPD data link state machine. (In progress.)
