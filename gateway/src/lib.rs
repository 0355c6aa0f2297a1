//! The `tandem` daemon: call control between TDM legs and SIP legs. Filled by
//! issues 5–8.
