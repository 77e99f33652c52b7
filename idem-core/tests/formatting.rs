//! `Debug` and `Display` of public types: they name the type and show what
//! helps in logs (namespaces, short digests), never a payload.
#![allow(clippy::unwrap_used)]

use idem_core::store::LeaseToken;
use idem_core::{Cached, Idempotent, Key, MemoryStore};

const SECRET: &str = "card-4242-4242-4242-4242";

#[test]
fn debug_and_display_name_the_type_and_never_the_payload() {
    let key = Key::builder("fmt::charge")
        .part("card", SECRET)
        .finish()
        .unwrap();
    let short = key.short().to_string();
    let shown = [
        (format!("{key:?}"), format!("Key({short})")),
        (format!("{:?}", key.short()), format!("ShortKey({short})")),
        (format!("{key}"), key.storage_key().to_owned()),
    ];
    for (got, want) in &shown {
        assert_eq!(got, want);
    }
    let builder = Key::builder("fmt::charge").part("card", SECRET);
    let call = Idempotent::new("fmt::charge").key("card", SECRET);
    let token = LeaseToken::new();
    let named = [
        (format!("{builder:?}"), "fmt::charge"),
        (format!("{call:?}"), "fmt::charge"),
        (format!("{:?}", MemoryStore::new()), "MemoryStore"),
        (
            format!("{:?}", Cached::new(MemoryStore::new(), 10)),
            "Cached",
        ),
        (format!("{token:?}"), "LeaseToken("),
    ];
    for (got, want) in &named {
        assert!(got.contains(want), "{got} should name {want}");
    }
    for text in shown
        .iter()
        .map(|(g, _)| g)
        .chain(named.iter().map(|(g, _)| g))
    {
        assert!(!text.contains(SECRET), "{text}");
    }
    assert_eq!(format!("{token:?}"), format!("LeaseToken({token})"));
}
