//! Tone zone names and the zone numbers DAHDI knows them by.
//!
//! `dahdi_cfg` loads zones through libtonezone, which numbers them as its
//! built-in table does; DEFAULTZONE then takes that number. Tandem uses the
//! same numbering so that `tone_zone = "uk"` means what `defaultzone=uk`
//! means.

/// (name, DAHDI zone number), in libtonezone's order.
pub const ZONES: &[(&str, u32)] = &[
    ("us", 0),
    ("au", 1),
    ("fr", 2),
    ("nl", 3),
    ("uk", 4),
    ("fi", 5),
    ("es", 6),
    ("jp", 7),
    ("no", 8),
    ("at", 9),
    ("nz", 10),
    ("it", 11),
    ("us-old", 12),
    ("gr", 13),
    ("tw", 14),
    ("cl", 15),
    ("se", 16),
    ("be", 17),
    ("sg", 18),
    ("il", 19),
    ("br", 20),
    ("hu", 21),
    ("lt", 22),
    ("pl", 23),
    ("za", 24),
    ("pt", 25),
    ("ee", 26),
    ("mx", 27),
    ("in", 28),
    ("de", 29),
    ("ch", 30),
    ("dk", 31),
    ("cz", 32),
    ("cn", 33),
    ("ar", 34),
    ("my", 35),
    ("th", 36),
    ("bg", 37),
    ("ve", 38),
    ("ph", 39),
    ("ru", 40),
    ("tr", 41),
    ("pa", 42),
    ("mo", 43),
    ("cr", 44),
    ("ae", 45),
];

/// The zone number of a zone name (case-insensitive).
pub fn zone_number(name: &str) -> Option<u32> {
    ZONES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, z)| *z)
}

/// "us, au, fr, …" for messages.
pub fn zone_names() -> String {
    ZONES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}
