//! Chinese licence plates (GA 36): parsing, normalisation, kinds, and a distance that knows how
//! plate readers go wrong.
//!
//! Everything here is pure: readers, matching and the register all go through
//! [`PlateNumber::parse`], so "is this a plate?" has one answer in the whole product. A read
//! that does not parse is rejected with the reason, never published as a plate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The province (and municipality) abbreviations that start a civil plate.
pub const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// The first letters of military plates (the 2012 series): V for the Central Military
/// Commission's units, K the air force, H the navy, and B, S, L, J, N, G, C for the former
/// military regions (the second letter is the unit). Not W: WJ is the armed police.
const MILITARY: &str = "VKHBSLJNGC";

/// New-energy markers: D, A, B, C, E (electric) and F, G, H, J, K (hybrid).
const NEW_ENERGY: &str = "DABCEFGHJK";

/// What kind of plate a number is, as far as its text tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateKind {
    /// Province + office letter + 5 characters.
    Ordinary,
    /// Green 8-character plate; the marker is third (small cars) or last (large vehicles).
    NewEnergy,
    /// 学: driving school.
    Learner,
    /// 警: police.
    Police,
    /// 挂: trailer.
    Trailer,
    /// 港: Hong Kong cross-border (粤Z).
    HongKong,
    /// 澳: Macau cross-border (粤Z).
    Macau,
    /// 领: consulate.
    Consulate,
    /// 使: embassy (使 + 6 digits).
    Embassy,
    /// WJ + province + 5 characters: armed police.
    ArmedPolice,
    /// 民航 + 5 characters: civil-aviation vehicles that run inside airports.
    CivilAviation,
    /// Province + team letter + 4 characters + 应急: emergency-rescue vehicles (fire and rescue
    /// teams, since 2018; white with a red 应急).
    Emergency,
    /// Two letters + 5 digits (the 2012 series, such as `KA12345`; the first letter one of
    /// V, K, H, B, S, L, J, N, G, C): military, white with the letters in red.
    Military,
}

/// Plate background colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateColor {
    Blue,
    Yellow,
    Green,
    White,
    Black,
}

/// Whether the characters are on one row or two (the top row holding province and office
/// letter: trucks, buses, trailers, motorcycles, some armed-police plates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateLayout {
    SingleRow,
    DoubleRow,
}

/// A valid, normalised plate number: no separator, ASCII letters upper-case, no full-width
/// forms.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlateNumber {
    text: String,
}

/// Why a text is not a plate number.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PlateError {
    #[error("empty")]
    Empty,
    #[error("{len} characters: a plate has 7, or 8 for new-energy, emergency and armed-police plates")]
    Length { len: usize },
    #[error("`{ch}` is not a province abbreviation")]
    Province { ch: char },
    #[error("`{ch}` at position 2 is not an issuing-office letter (A-Z without I)")]
    Office { ch: char },
    #[error("`{ch}` at position {pos} is not allowed (digits and A-Z without I and O)")]
    Character { pos: usize, ch: char },
    #[error("new-energy plate `{text}`: {reason}")]
    NewEnergy { text: String, reason: &'static str },
    #[error("`{text}`: {reason}")]
    Format { text: String, reason: &'static str },
}

/// Strips separators and spaces, maps full-width forms to ASCII, and upper-cases letters.
pub fn normalise(input: &str) -> String {
    input
        .chars()
        .filter_map(|c| {
            let c = match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                _ => c,
            };
            match c {
                '·' | '•' | '・' | '.' | '-' | ' ' | '\u{3000}' | '\t' => None,
                c => Some(c.to_ascii_uppercase()),
            }
        })
        .collect()
}

fn is_province(c: char) -> bool {
    PROVINCES.contains(c)
}

/// Digits and A-Z without I and O.
fn is_serial(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O')
}

fn check_serial(chars: &[char], from: usize) -> Result<(), PlateError> {
    match chars.iter().enumerate().find(|(_, c)| !is_serial(**c)) {
        Some((i, &ch)) => Err(PlateError::Character { pos: from + i + 1, ch }),
        None => Ok(()),
    }
}

impl PlateNumber {
    /// Parses and normalises `input` (`冀G·12345`, `ｊｉ…`, `冀g12345` all give `冀G12345`).
    pub fn parse(input: &str) -> Result<Self, PlateError> {
        let text = normalise(input);
        let c: Vec<char> = text.chars().collect();
        let format = |reason| PlateError::Format { text: text.clone(), reason };
        if c.is_empty() {
            return Err(PlateError::Empty);
        }
        if c.len() < 7 || c.len() > 8 {
            return Err(PlateError::Length { len: c.len() });
        }
        if c[0] == 'W' && c.get(1) == Some(&'J') {
            if c.len() != 8 {
                return Err(format("armed-police plates are WJ + province + 5 characters"));
            }
            if !is_province(c[2]) {
                return Err(PlateError::Province { ch: c[2] });
            }
            check_serial(&c[3..], 3)?;
            return Ok(Self { text });
        }
        if c[0] == '使' {
            if c.len() != 7 || !c[1..].iter().all(char::is_ascii_digit) {
                return Err(format("embassy plates are 使 + 6 digits"));
            }
            return Ok(Self { text });
        }
        if c[0] == '民' {
            if c[1] != '航' || c.len() != 7 {
                return Err(format("civil-aviation plates are 民航 + 5 characters"));
            }
            check_serial(&c[2..], 2)?;
            return Ok(Self { text });
        }
        if MILITARY.contains(c[0]) && c[1].is_ascii_uppercase() && c.len() == 7 {
            if !c[2..].iter().all(char::is_ascii_digit) {
                return Err(format("military plates are two letters + 5 digits"));
            }
            return Ok(Self { text });
        }
        if !is_province(c[0]) {
            return Err(PlateError::Province { ch: c[0] });
        }
        if !(c[1].is_ascii_uppercase() && c[1] != 'I') {
            return Err(PlateError::Office { ch: c[1] });
        }
        if c.len() == 7 {
            let last = c[6];
            if "学警挂港澳领".contains(last) {
                check_serial(&c[2..6], 2)?;
                if "港澳".contains(last) && (c[0] != '粤' || c[1] != 'Z') {
                    return Err(format("Hong Kong and Macau plates are issued as 粤Z"));
                }
                return Ok(Self { text });
            }
            check_serial(&c[2..], 2)?;
            return Ok(Self { text });
        }
        if c[6] == '应' || c[7] == '急' {
            if c[6..] != ['应', '急'] {
                return Err(format("emergency plates end in 应急"));
            }
            check_serial(&c[2..6], 2)?;
            return Ok(Self { text });
        }
        // 8 characters: new energy, small (marker third, last four digits) or large (five
        // digits, marker last).
        let ne = |reason| PlateError::NewEnergy { text: text.clone(), reason };
        check_serial(&c[2..], 2)?;
        if NEW_ENERGY.contains(c[2]) {
            if !c[4..].iter().all(char::is_ascii_digit) {
                return Err(ne("a small car's last four characters are digits"));
            }
        } else if NEW_ENERGY.contains(c[7]) {
            if !c[2..7].iter().all(char::is_ascii_digit) {
                return Err(ne("a large vehicle's five characters before the marker are digits"));
            }
        } else {
            return Err(ne("the third or the last character must be D, A, B, C, E, F, G, H, J or K"));
        }
        Ok(Self { text })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether some plate number starts with `prefix` (already normalised), as far as the
    /// per-position rules tell: constrained decoders use it to prune, and still [`parse`] what
    /// they finish. Cheap: no allocation.
    ///
    /// [`parse`]: PlateNumber::parse
    pub fn could_start(prefix: &[char]) -> bool {
        let Some(&first) = prefix.first() else {
            return true;
        };
        if prefix.len() > 8 {
            return false;
        }
        if first == 'W' {
            return prefix.iter().enumerate().skip(1).all(|(i, &c)| match i {
                1 => c == 'J',
                2 => is_province(c),
                _ => is_serial(c),
            });
        }
        if first == '使' {
            return prefix.len() <= 7 && prefix[1..].iter().all(char::is_ascii_digit);
        }
        if first == '民' {
            return prefix.len() <= 7
                && prefix.iter().enumerate().skip(1).all(|(i, &c)| if i == 1 { c == '航' } else { is_serial(c) });
        }
        if MILITARY.contains(first) {
            // Military: two letters, then five digits.
            return prefix.len() <= 7
                && prefix
                    .iter()
                    .enumerate()
                    .skip(1)
                    .all(|(i, &c)| if i == 1 { c.is_ascii_uppercase() } else { c.is_ascii_digit() });
        }
        if !is_province(first) {
            return false;
        }
        prefix.iter().enumerate().skip(1).all(|(i, &c)| match i {
            1 => c.is_ascii_uppercase() && c != 'I',
            2..=5 => is_serial(c),
            6 => is_serial(c) || "学警挂港澳领应".contains(c),
            _ => match prefix[6] {
                '应' => c == '急',
                p => is_serial(c) && !"学警挂港澳领".contains(p),
            },
        })
    }

    /// Every character that may appear in a plate number, for restricting a reader's classes.
    pub fn alphabet() -> impl Iterator<Item = char> {
        PROVINCES.chars().chain('0'..='9').chain('A'..='Z').chain("学警挂港澳领使民航应急".chars())
    }

    /// The kind the text shows.
    pub fn kind(&self) -> PlateKind {
        let mut chars = self.text.chars();
        let first = chars.next();
        let last = self.text.chars().last();
        match (first, last, self.text.chars().count()) {
            (Some('W'), _, _) => PlateKind::ArmedPolice,
            (Some('使'), _, _) => PlateKind::Embassy,
            (Some('民'), _, _) => PlateKind::CivilAviation,
            (Some(c), _, _) if MILITARY.contains(c) => PlateKind::Military,
            (_, Some('急'), _) => PlateKind::Emergency,
            (_, _, 8) => PlateKind::NewEnergy,
            (_, Some('学'), _) => PlateKind::Learner,
            (_, Some('警'), _) => PlateKind::Police,
            (_, Some('挂'), _) => PlateKind::Trailer,
            (_, Some('港'), _) => PlateKind::HongKong,
            (_, Some('澳'), _) => PlateKind::Macau,
            (_, Some('领'), _) => PlateKind::Consulate,
            _ => PlateKind::Ordinary,
        }
    }

    /// The colour a plate of this kind has, where the kind decides it. Ordinary plates are
    /// blue (small vehicles) or yellow (large): the text alone cannot tell; nor can it for
    /// civil-aviation plates.
    pub fn kind_color(&self) -> Option<PlateColor> {
        match self.kind() {
            PlateKind::NewEnergy => Some(PlateColor::Green),
            PlateKind::Police | PlateKind::ArmedPolice | PlateKind::Emergency | PlateKind::Military => {
                Some(PlateColor::White)
            }
            PlateKind::HongKong | PlateKind::Macau | PlateKind::Embassy | PlateKind::Consulate => {
                Some(PlateColor::Black)
            }
            PlateKind::Learner | PlateKind::Trailer => Some(PlateColor::Yellow),
            // Airport vehicles' plates are not all of one colour.
            PlateKind::Ordinary | PlateKind::CivilAviation => None,
        }
    }
}

impl FromStr for PlateNumber {
    type Err = PlateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for PlateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for PlateNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for PlateNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Groups of characters plate readers mistake for each other.
const CONFUSIONS: [&str; 5] = ["0DQ", "8B", "1I", "2Z", "5S"];

/// The cost of reading `b` where the plate says `a`: 0 if equal, 0.5 for a usual reader
/// confusion (0/D/Q, 8/B, 1/I, 2/Z, 5/S, one province for another), 1 otherwise.
pub fn substitution_cost(a: char, b: char) -> f32 {
    if a == b {
        0.0
    } else if CONFUSIONS.iter().any(|g| g.contains(a) && g.contains(b)) || (is_province(a) && is_province(b)) {
        0.5
    } else {
        1.0
    }
}

/// Edit distance between two plate texts (normalised first) in which the usual reader
/// confusions cost half a substitution; insertions and deletions cost 1. Matching against a
/// register uses it with an "allowed wrong characters" budget, as barrier-gate products do.
pub fn distance(a: &str, b: &str) -> f32 {
    let a: Vec<char> = normalise(a).chars().collect();
    let b: Vec<char> = normalise(b).chars().collect();
    let mut prev: Vec<f32> = (0..=b.len()).map(|j| j as f32).collect();
    let mut cur = vec![0.0f32; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = (i + 1) as f32;
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + substitution_cost(ca, cb)).min(prev[j + 1] + 1.0).min(cur[j] + 1.0);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// How a read plate matched the register.
#[derive(Clone, Debug, PartialEq)]
pub enum PlateMatch {
    Exact(String),
    /// Within the allowed confusion-aware distance, and no other registered plate as close.
    Fuzzy {
        plate: String,
        distance: f32,
    },
    /// Several registered plates are equally close: no match (and the event says so).
    Ambiguous(Vec<String>),
    None,
}

/// Matches `read` against `registered` plates: exact on the normalised text first, otherwise
/// the nearest by [`distance`] when it is at most `max_distance` and unambiguous.
pub fn match_plate<'a>(read: &str, registered: impl IntoIterator<Item = &'a str>, max_distance: f32) -> PlateMatch {
    let read = normalise(read);
    let mut best: Vec<(f32, &str)> = Vec::new();
    for p in registered {
        if normalise(p) == read {
            return PlateMatch::Exact(p.to_owned());
        }
        let d = distance(&read, p);
        if d <= max_distance {
            best.push((d, p));
        }
    }
    best.sort_by(|a, b| a.0.total_cmp(&b.0));
    match best.as_slice() {
        [] => PlateMatch::None,
        [(d, p)] => PlateMatch::Fuzzy { plate: (*p).to_owned(), distance: *d },
        [(d0, p0), (d1, _), ..] if d0 < d1 => PlateMatch::Fuzzy { plate: (*p0).to_owned(), distance: *d0 },
        [(d0, _), ..] => {
            PlateMatch::Ambiguous(best.iter().filter(|(d, _)| d == d0).map(|(_, p)| (*p).to_owned()).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates_match_exactly_then_fuzzily_and_only_when_unambiguous() {
        let reg = ["粤B12345", "粤B67890", "京A00001", "京A00002"];
        assert_eq!(match_plate("粤b·12345", reg, 1.0), PlateMatch::Exact("粤B12345".into()));
        // 8 read for B is a usual confusion: half a substitution.
        assert_eq!(match_plate("粤812345", reg, 1.0), PlateMatch::Fuzzy { plate: "粤B12345".into(), distance: 0.5 });
        assert_eq!(match_plate("粤B99999", reg, 1.0), PlateMatch::None);
        // Equally close to two registered plates: no match.
        assert!(matches!(match_plate("京A00003", reg, 1.0), PlateMatch::Ambiguous(v) if v.len() == 2));
    }

    fn kind(s: &str) -> PlateKind {
        PlateNumber::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).kind()
    }

    #[test]
    fn the_kinds_seen_on_real_plates_parse() {
        assert_eq!(kind("冀G12345"), PlateKind::Ordinary);
        assert_eq!(kind("皖AD11166"), PlateKind::NewEnergy);
        assert_eq!(kind("皖AF05568"), PlateKind::NewEnergy);
        assert_eq!(kind("粤B12345D"), PlateKind::NewEnergy);
        assert_eq!(kind("粤ZEP33港"), PlateKind::HongKong);
        assert_eq!(kind("粤ZBD60澳"), PlateKind::Macau);
        assert_eq!(kind("鄂F8888警"), PlateKind::Police);
        assert_eq!(kind("浙A1234学"), PlateKind::Learner);
        assert_eq!(kind("冀G1234挂"), PlateKind::Trailer);
        assert_eq!(kind("沪A1234领"), PlateKind::Consulate);
        assert_eq!(kind("使198476"), PlateKind::Embassy);
        assert_eq!(kind("WJ粤6788B"), PlateKind::ArmedPolice);
        assert_eq!(kind("民航A0123"), PlateKind::CivilAviation);
        assert_eq!(kind("川A1234应急"), PlateKind::Emergency);
        assert_eq!(kind("KA12345"), PlateKind::Military);
        assert_eq!(kind("VA00123"), PlateKind::Military);
        assert_eq!(PlateNumber::parse("AA12345").unwrap_err(), PlateError::Province { ch: 'A' });
    }

    #[test]
    fn the_rarer_kinds_have_their_own_grammar_and_prefixes() {
        let e = |s: &str| PlateNumber::parse(s).unwrap_err();
        assert!(matches!(e("民用A0123"), PlateError::Format { .. }));
        assert!(matches!(e("民航A012"), PlateError::Length { .. }));
        assert!(matches!(e("民航A01234"), PlateError::Format { .. }));
        assert!(matches!(e("KA1234B"), PlateError::Format { .. }), "military serials are digits");
        assert!(matches!(e("川A1234应警"), PlateError::Format { .. }));
        assert!(matches!(e("川A12345急"), PlateError::Format { .. }));
        assert_eq!(e("川A123I应急"), PlateError::Character { pos: 6, ch: 'I' });
        let starts = |s: &str| PlateNumber::could_start(&s.chars().collect::<Vec<_>>());
        for ok in ["民", "民航", "民航A012", "川A1234应", "川A1234应急", "K", "KA", "KA1234"] {
            assert!(starts(ok), "{ok} starts a plate");
        }
        for bad in ["民用", "民航A01234", "川A1234应警", "川A123应", "KA1B", "K1", "KA123456"] {
            assert!(!starts(bad), "{bad} starts no plate");
        }
        // What the prefix rule admits, parse accepts, for every kind: a constrained decoder never
        // finishes a text that is then rejected for its shape.
        for full in ["民航A0123", "川A1234应急", "KA12345", "WJ粤6788B", "使198476", "粤ZEP33港"] {
            assert!(starts(full) && PlateNumber::parse(full).is_ok(), "{full}");
        }
        for c in "民航应急".chars() {
            assert!(PlateNumber::alphabet().any(|a| a == c), "{c} is a reader class to keep");
        }
        assert_eq!(PlateNumber::parse("川A1234应急").unwrap().kind_color(), Some(PlateColor::White));
    }

    #[test]
    fn separators_full_width_and_lower_case_are_normalised() {
        for s in ["冀G·12345", "冀g12345", "冀Ｇ１２３４５", " 冀G 12345 ", "冀G-12345", "冀Ｇ・12345"] {
            assert_eq!(PlateNumber::parse(s).unwrap().as_str(), "冀G12345", "{s}");
        }
    }

    #[test]
    fn invalid_input_says_why() {
        let e = |s: &str| PlateNumber::parse(s).unwrap_err();
        assert_eq!(e(""), PlateError::Empty);
        assert_eq!(e("冀G1234"), PlateError::Length { len: 6 });
        assert_eq!(e("X冀G1234"), PlateError::Province { ch: 'X' });
        assert_eq!(e("冀I12345"), PlateError::Office { ch: 'I' });
        assert_eq!(e("冀G12O45"), PlateError::Character { pos: 5, ch: 'O' });
        assert!(matches!(e("皖AX11166"), PlateError::NewEnergy { .. }));
        assert!(matches!(e("皖AD1A166"), PlateError::NewEnergy { .. }));
        assert!(matches!(e("京A1234港"), PlateError::Format { .. }));
        assert!(matches!(e("使19847A"), PlateError::Format { .. }));
        assert_eq!(e("TAXI1234").to_string(), "`T` is not a province abbreviation");
    }

    #[test]
    fn colours_follow_the_kind_where_it_decides() {
        let c = |s: &str| PlateNumber::parse(s).unwrap().kind_color();
        assert_eq!(c("皖AD11166"), Some(PlateColor::Green));
        assert_eq!(c("鄂F8888警"), Some(PlateColor::White));
        assert_eq!(c("粤ZEP33港"), Some(PlateColor::Black));
        assert_eq!(c("冀G12345"), None);
    }

    #[test]
    fn reader_confusions_cost_half() {
        assert_eq!(distance("冀G12345", "冀G12345"), 0.0);
        assert_eq!(distance("冀G12345", "冀G1Z345"), 0.5);
        assert_eq!(distance("冀G12345", "冀G12B45"), 1.0);
        assert_eq!(distance("冀G12345", "京G12345"), 0.5);
        assert_eq!(distance("冀G12345", "冀G1234"), 1.0);
        assert_eq!(distance("冀G·12345", "冀g12345"), 0.0);
    }

    #[test]
    fn serde_round_trips_and_refuses_invalid_text() {
        let p: PlateNumber = serde_json::from_str("\"冀G·12345\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"冀G12345\"");
        assert!(serde_json::from_str::<PlateNumber>("\"TAXI\"").is_err());
    }
}
