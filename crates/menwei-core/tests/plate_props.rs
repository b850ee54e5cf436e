//! Property tests of the plate grammar.

use menwei_core::plate::{PROVINCES, PlateNumber, distance, normalise};
use proptest::prelude::*;

const SERIAL: &str = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const OFFICE: &str = "ABCDEFGHJKLMNOPQRSTUVWXYZ";

fn pick(set: &'static str) -> impl Strategy<Value = char> {
    let chars: Vec<char> = set.chars().collect();
    proptest::sample::select(chars)
}

/// Ordinary plates and both new-energy forms.
fn valid_plate() -> impl Strategy<Value = String> {
    let ordinary = (pick(PROVINCES), pick(OFFICE), proptest::collection::vec(pick(SERIAL), 5))
        .prop_map(|(p, o, s)| format!("{p}{o}{}", s.into_iter().collect::<String>()));
    let ne_small = (pick(PROVINCES), pick(OFFICE), pick("DABCEFGHJK"), pick(SERIAL), 0u32..10000)
        .prop_map(|(p, o, m, s, n)| format!("{p}{o}{m}{s}{n:04}"));
    let ne_large = (pick(PROVINCES), pick(OFFICE), 0u32..100000, pick("DABCEFGHJK"))
        .prop_map(|(p, o, n, m)| format!("{p}{o}{n:05}{m}"));
    prop_oneof![ordinary, ne_small, ne_large]
}

proptest! {
    #[test]
    fn valid_plates_parse_and_round_trip(p in valid_plate()) {
        let n = PlateNumber::parse(&p).unwrap();
        prop_assert_eq!(n.as_str(), p.as_str());
        prop_assert_eq!(PlateNumber::parse(n.as_str()).unwrap(), n);
    }

    #[test]
    fn written_variants_parse_to_the_same_plate(p in valid_plate(), split in 2usize..6) {
        let chars: Vec<char> = p.chars().collect();
        let dotted: String = chars[..split].iter().chain(['·'].iter()).chain(chars[split..].iter()).collect();
        let lower = p.to_lowercase();
        let full_width: String = p
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { char::from_u32(c as u32 + 0xFEE0).unwrap() } else { c })
            .collect();
        for v in [dotted, lower, full_width] {
            let parsed = PlateNumber::parse(&v).unwrap();
            prop_assert_eq!(parsed.as_str(), p.as_str());
        }
    }

    #[test]
    fn arbitrary_text_never_panics_and_accepted_text_is_normalised(s in "\\PC{0,12}") {
        if let Ok(p) = PlateNumber::parse(&s) {
            prop_assert_eq!(normalise(p.as_str()), p.as_str());
            prop_assert!(PlateNumber::parse(p.as_str()).is_ok());
        }
    }

    #[test]
    fn distance_is_a_symmetric_premetric(a in valid_plate(), b in valid_plate()) {
        prop_assert_eq!(distance(&a, &a), 0.0);
        prop_assert_eq!(distance(&a, &b), distance(&b, &a));
        prop_assert!(distance(&a, &b) <= a.chars().count().max(b.chars().count()) as f32);
    }
}

proptest! {
    /// Every prefix of a valid plate could start a plate.
    #[test]
    fn prefixes_of_valid_plates_could_start_one(s in "[京沪粤皖][A-HJ-Z][0-9A-HJ-NP-Z]{5}") {
        let chars: Vec<char> = s.chars().collect();
        prop_assume!(PlateNumber::parse(&s).is_ok());
        for n in 0..=chars.len() {
            prop_assert!(PlateNumber::could_start(&chars[..n]), "{s} at {n}");
        }
    }
}

#[test]
fn impossible_prefixes_are_refused() {
    let c = |s: &str| PlateNumber::could_start(&s.chars().collect::<Vec<_>>());
    assert!(c("") && c("粤") && c("WJ粤") && c("使12") && c("粤B3587学") && c("皖AD1234"));
    assert!(!c("A") && !c("粤I") && !c("粤BO") && !c("粤B3学") && !c("粤B3587学1") && !c("WA") && !c("使A"));
}
