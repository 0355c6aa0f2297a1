//! Channel lists: `"1-15,17-31"`, `"24"`, `"1,3,5"`.

use std::ops::Range;

/// One item of a list: `first..=last`, and where it is in the list's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub first: u32,
    pub last: u32,
    /// Byte range of the item in the list's text.
    pub at: Range<usize>,
}

/// A problem with one item of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListError {
    /// Byte range in the list's text.
    pub at: Range<usize>,
    pub message: String,
    pub help: String,
}

/// The largest channel number DAHDI has (DAHDI_MAX_CHANNELS - 1).
pub const MAX_CHANNEL: u32 = 1023;

/// Parse a comma-separated list of channel numbers and `a-b` ranges
/// (whitespace around items is allowed). Every bad item is reported.
pub fn parse(text: &str) -> Result<Vec<Item>, Vec<ListError>> {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    if text.trim().is_empty() {
        return Err(vec![ListError {
            at: 0..text.len(),
            message: "the channel list is empty".into(),
            help: "list channel positions, e.g. \"1-23\" or \"1-15,17-31\"".into(),
        }]);
    }
    let mut start = 0;
    for piece in text.split(',') {
        let end = start + piece.len();
        let lead = piece.len() - piece.trim_start().len();
        let t = piece.trim();
        let at = (start + lead)..(start + lead + t.len());
        start = end + 1;
        if t.is_empty() {
            errors.push(ListError {
                at: at.start..at.start,
                message: "empty item in the channel list (two commas in a row, or a comma at an end)".into(),
                help: "remove the extra comma".into(),
            });
            continue;
        }
        let number = |s: &str, what: &str| -> Result<u32, (String, String)> {
            let s = s.trim();
            match s.parse::<u32>() {
                Ok(0) => Err((format!("channel 0 in {t:?}: channels are numbered from 1"), "start at 1".into())),
                Ok(n) if n > MAX_CHANNEL => {
                    Err((format!("channel {n} in {t:?} is out of range (DAHDI has at most {MAX_CHANNEL})"), "use a smaller number".into()))
                }
                Ok(n) => Ok(n),
                Err(_) if s.is_empty() => Err((format!("{what} of range {t:?} is missing"), "write a range as first-last, e.g. \"1-23\"".into())),
                Err(_) => Err((
                    format!("{s:?} is not a channel number (in {t:?})"),
                    "write channel numbers and ranges separated by commas, e.g. \"1-15,17-31\"".into(),
                )),
            }
        };
        let parsed = match t.split_once('-') {
            Some((a, b)) => number(a, "the start").and_then(|a| number(b, "the end").map(|b| (a, b))),
            None => number(t, "").map(|a| (a, a)),
        };
        match parsed {
            Ok((a, b)) if a > b => errors.push(ListError { at, message: format!("range \"{a}-{b}\" runs backwards"), help: format!("write \"{b}-{a}\"") }),
            Ok((a, b)) => items.push(Item { first: a, last: b, at }),
            Err((message, help)) => errors.push(ListError { at, message, help }),
        }
    }
    if errors.is_empty() { Ok(items) } else { Err(errors) }
}

/// The shortest list for a set of channel numbers: sorted, with runs of
/// two or more written as ranges ("1-15,17-31", "24", "1,3").
pub fn format(channels: &[u32]) -> String {
    let mut v: Vec<u32> = channels.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        if j == i {
            out.push(v[i].to_string());
        } else {
            out.push(format!("{}-{}", v[i], v[j]));
        }
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_format() {
        let items = parse(" 1-15, 17-31 ").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].first, items[0].last, items[0].at.clone()), (1, 15, 1..5));
        assert_eq!((items[1].first, items[1].last, items[1].at.clone()), (17, 31, 7..12));
        assert_eq!(parse("24").unwrap()[0].first, 24);
        assert_eq!(format(&[3, 1, 2, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(format(&[24]), "24");
    }

    #[test]
    fn bad_items_are_all_reported_where_they_are() {
        let e = parse("5-3,abc,,0,2000,4-").unwrap_err();
        let msgs: Vec<_> = e.iter().map(|e| (e.at.start, e.message.as_str())).collect();
        assert_eq!(msgs.len(), 6, "{msgs:?}");
        assert!(msgs[0].1.contains("runs backwards") && msgs[0].0 == 0);
        assert!(msgs[1].1.contains("\"abc\" is not a channel number") && msgs[1].0 == 4);
        assert!(msgs[2].1.contains("empty item"));
        assert!(msgs[3].1.contains("channel 0"));
        assert!(msgs[4].1.contains("out of range"));
        assert!(msgs[5].1.contains("the end of range"));
        assert!(parse("").is_err());
    }
}
