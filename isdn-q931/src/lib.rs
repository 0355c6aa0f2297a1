//! Q.921 (LAPD) and Q.931 for ISDN PRI, user and network side, as sans-IO
//! state machines. Filled by issue 4.
