//! Key hashing: structural equalities, missing parts, and the pinned digests.

use std::collections::{BTreeMap, HashMap};

use idem_core::{Fingerprint, Key, KeyError};
use proptest::prelude::*;
use serde::Serialize;

fn digest<T: Serialize + ?Sized>(value: &T) -> String {
    Key::builder("ns")
        .part("p", value)
        .finish()
        .expect("hashable")
        .storage_key()
        .to_owned()
}

#[derive(Serialize)]
struct Order {
    order_id: String,
    amount_cents: u64,
    tags: Vec<String>,
    note: Option<String>,
}

#[derive(Serialize)]
struct OrderReordered {
    note: Option<String>,
    tags: Vec<String>,
    amount_cents: u32,
    order_id: &'static str,
}

#[derive(Serialize)]
struct Id(String);

#[derive(Serialize)]
struct Money(&'static str, u64);

#[derive(Serialize)]
enum Event {
    Ping,
    Paid(u64),
    Refund { id: u32, cents: i64 },
    Moved(i8, i8),
}

fn order() -> Order {
    Order {
        order_id: "ord-42".into(),
        amount_cents: 1250,
        tags: vec!["a".into(), "b".into()],
        note: None,
    }
}

#[test]
fn integers_hash_by_value_whatever_their_type() {
    assert_eq!(digest(&5u8), digest(&5i64));
    assert_eq!(digest(&5u128), digest(&5i16));
    assert_ne!(digest(&5u8), digest(&6u8));
    assert_ne!(digest(&-1i64), digest(&u64::MAX));
    assert_ne!(digest(&u128::MAX), digest(&i128::MAX));
}

#[test]
fn structs_hash_by_fields_not_by_type_name_or_field_order() {
    let reordered = OrderReordered {
        note: None,
        tags: vec!["a".into(), "b".into()],
        amount_cents: 1250,
        order_id: "ord-42",
    };
    assert_eq!(digest(&order()), digest(&reordered));
    let mut other = order();
    other.amount_cents = 1251;
    assert_ne!(digest(&order()), digest(&other));
}

#[test]
fn a_struct_hashes_like_the_json_object_it_serializes_to() {
    let json = serde_json::json!({
        "order_id": "ord-42", "amount_cents": 1250, "tags": ["a", "b"], "note": null
    });
    assert_eq!(digest(&order()), digest(&json));
}

#[derive(Serialize)]
struct Event2 {
    id: String,
    lines: Vec<Line>,
    customer: Customer,
    total: u64,
}

#[derive(Serialize)]
struct Line {
    sku: String,
    qty: u32,
    discount: i64,
    gift: bool,
}

#[derive(Serialize)]
struct Customer {
    name: String,
    address: HashMap<String, String>,
}

fn event() -> Event2 {
    Event2 {
        id: "evt-1".into(),
        lines: (0..8)
            .map(|i| Line {
                sku: format!("SKU-{i}"),
                qty: i,
                discount: -i64::from(i),
                gift: i % 2 == 0,
            })
            .collect(),
        customer: Customer {
            name: "Jane".into(),
            address: [("zip", "10115"), ("city", "Berlin"), ("country", "DE")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        },
        total: 1_000_000,
    }
}

#[test]
fn a_nested_struct_hashes_like_its_json_value_and_differs_when_a_leaf_does() {
    let typed = event();
    let value = serde_json::to_value(&typed).expect("json");
    assert_eq!(digest(&typed), digest(&value));
    let mut changed = event();
    changed.lines[7].gift = !changed.lines[7].gift;
    assert_ne!(digest(&typed), digest(&changed));
    let mut moved = event();
    moved.lines.swap(0, 1);
    assert_ne!(digest(&typed), digest(&moved), "sequences keep their order");
}

#[test]
fn maps_are_order_independent_and_sequences_are_not() {
    let pairs: Vec<(String, u32)> = (0..50).map(|i| (format!("k{i}"), i)).collect();
    let forward: HashMap<_, _> = pairs.iter().cloned().collect();
    let mut backward = HashMap::new();
    for (k, v) in pairs.iter().rev() {
        backward.insert(k.clone(), *v);
    }
    let sorted: BTreeMap<_, _> = pairs.iter().cloned().collect();
    assert_eq!(digest(&forward), digest(&backward));
    assert_eq!(digest(&forward), digest(&sorted));
    assert_ne!(digest(&[1, 2, 3]), digest(&[3, 2, 1]));
    assert_ne!(
        digest(&vec![vec![1], vec![2, 3]]),
        digest(&vec![vec![1, 2], vec![3]])
    );
}

#[test]
fn nested_maps_do_not_leak_between_entries() {
    let a = serde_json::json!({"x": {"y": 1}, "z": 2});
    let b = serde_json::json!({"x": {"y": 1, "z": 2}});
    let c = serde_json::json!({"x": {}, "y": 1, "z": 2});
    assert_ne!(digest(&a), digest(&b));
    assert_ne!(digest(&a), digest(&c));
    assert_ne!(digest(&b), digest(&c));
}

#[test]
fn strings_bytes_and_numbers_are_distinct_kinds() {
    assert_ne!(digest("1"), digest(&1));
    assert_ne!(digest(&1.0f64), digest(&1));
    assert_eq!(digest(&1.5f32), digest(&1.5f64));
    assert_eq!(digest(&f64::NAN), digest(&-f64::NAN));
    assert_eq!(digest(&0.0f64), digest(&-0.0f64));
    assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
    assert_eq!(digest(&'x'), digest("x"));
}

#[test]
fn newtypes_options_and_enums_hash_like_their_json() {
    assert_eq!(digest(&Id("ord-1".into())), digest("ord-1"));
    assert_eq!(digest(&Some("ord-1")), digest("ord-1"));
    assert_eq!(digest(&Event::Ping), digest("Ping"));
    assert_eq!(
        digest(&Event::Paid(7)),
        digest(&serde_json::json!({"Paid": 7}))
    );
    assert_eq!(
        digest(&Event::Refund { id: 1, cents: -5 }),
        digest(&serde_json::json!({"Refund": {"cents": -5, "id": 1}}))
    );
    assert_eq!(
        digest(&Event::Moved(1, -1)),
        digest(&serde_json::json!({"Moved": [1, -1]}))
    );
}

#[test]
fn none_null_unit_and_empty_strings_are_missing_at_the_top() {
    for missing in [
        Key::builder("ns").part("a.b", &None::<String>).finish(),
        Key::builder("ns").part("a.b", "").finish(),
        Key::builder("ns")
            .part("a.b", &Some(String::new()))
            .finish(),
        Key::builder("ns").part("a.b", &Id(String::new())).finish(),
        Key::builder("ns")
            .part("a.b", &serde_json::Value::Null)
            .finish(),
        Key::builder("ns").part("a.b", &()).finish(),
    ] {
        assert_eq!(
            missing,
            Err(KeyError::Missing {
                namespace: "ns".into(),
                part: "a.b".into()
            })
        );
    }
    // Nested empties are values, not missing keys.
    assert!(Key::builder("ns").part("p", &order()).finish().is_ok());
    assert!(Key::builder("ns").part("p", &vec![""]).finish().is_ok());
}

#[test]
fn the_first_missing_part_of_a_composite_key_is_reported() {
    let err = Key::builder("ns")
        .part("req.tenant", "acme")
        .part("req.request_id", &None::<u64>)
        .part("req.other", "")
        .finish();
    assert_eq!(
        err,
        Err(KeyError::Missing {
            namespace: "ns".into(),
            part: "req.request_id".into()
        })
    );
}

#[test]
fn composite_parts_are_not_concatenations() {
    let ab_c = Key::builder("ns").part("x", "ab").part("y", "c").finish();
    let a_bc = Key::builder("ns").part("x", "a").part("y", "bc").finish();
    assert_ne!(ab_c, a_bc);
    let one = Key::builder("ns").part("x", &("ab", "c")).finish();
    assert_ne!(one, ab_c);
}

#[test]
fn namespaces_prefix_the_stored_key_and_digests_hide_payloads() {
    let a = Key::builder("billing::charge")
        .part("p", "secret@example.com")
        .finish()
        .expect("key");
    let b = Key::builder("audit::log")
        .part("p", "secret@example.com")
        .finish()
        .expect("key");
    assert_eq!(a.digest(), b.digest());
    assert_ne!(a.storage_key(), b.storage_key());
    assert!(!a.storage_key().contains("secret"));
    assert_eq!(
        a.short().to_string(),
        format!("billing::charge#{}", &a.storage_key()[16..24])
    );
}

#[test]
fn fingerprints_differ_from_keys_and_allow_none() {
    let fp = Fingerprint::builder()
        .part(&None::<u8>)
        .finish()
        .expect("fingerprint");
    assert_eq!(fp.as_str().len(), 64);
    let key = Key::builder("").part("p", "x").finish().expect("key");
    let fp_x = Fingerprint::builder()
        .part("x")
        .finish()
        .expect("fingerprint");
    assert_ne!(&key.storage_key()[1..], fp_x.as_str());
}

struct Failing;

impl Serialize for Failing {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("no way"))
    }
}

#[test]
fn a_failing_serialize_is_a_typed_error() {
    let err = Key::builder("ns").part("p", &Failing).finish();
    assert_eq!(
        err,
        Err(KeyError::Unhashable {
            namespace: "ns".into(),
            part: "p".into(),
            reason: "no way".into()
        })
    );
}

/// Raw bytes, as `serde_bytes` serializes them (`serialize_bytes`), not a
/// sequence of numbers.
struct Raw(&'static [u8]);

impl Serialize for Raw {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

#[derive(Serialize)]
struct Marker;

/// Field names that share their first 8 bytes, declared out of order.
#[derive(Serialize)]
struct Customer2 {
    customer_name: &'static str,
    customer_id: u32,
    customer_address: &'static str,
}

#[test]
fn fields_that_share_a_long_prefix_are_still_put_in_order() {
    let typed = Customer2 {
        customer_name: "Ada",
        customer_id: 7,
        customer_address: "1 Loop",
    };
    let json = serde_json::json!({
        "customer_address": "1 Loop", "customer_id": 7, "customer_name": "Ada"
    });
    assert_eq!(digest(&typed), digest(&json));
}

#[test]
fn wide_integers_bytes_and_unit_structs_are_keys_by_value() {
    assert_ne!(digest(&-2i128), digest(&-3i128));
    assert_ne!(digest(&i128::MIN), digest(&i128::MAX));
    assert_ne!(digest(&Raw(b"ab")), digest(&Raw(b"ac")));
    // Empty at the top is a missing part, as `""` is; nested it is a value.
    fn part<T: Serialize>(value: &T) -> Result<Key, KeyError> {
        Key::builder("ns").part("p", value).finish()
    }
    assert!(part(&Raw(b"")).is_err());
    assert!(part(&Raw(b"x")).is_ok());
    assert!(part(&Marker).is_err(), "a unit struct alone is no key");
    assert_ne!(digest(&(Marker, 1)), digest(&(1, Marker)));
    assert_ne!(digest(&vec![Raw(b"")]), digest(&Vec::<Raw>::new()));
}

#[test]
fn every_field_of_a_tuple_struct_is_part_of_the_key() {
    let base = digest(&Money("EUR", 1250));
    assert_ne!(base, digest(&Money("USD", 1250)));
    assert_ne!(base, digest(&Money("EUR", 1251)));
    // Its fields in order, closed like a tuple's (as JSON writes it, an
    // array): the tuple of its fields, never one field alone.
    assert_eq!(base, digest(&("EUR", 1250u64)));
    assert_ne!(digest(&vec![Money("EUR", 1)]), digest(&vec!["EUR"]));
}

/// The digests of production keys must never change: a changed digest makes
/// every duplicate in flight run again. `IDEM_BLESS=1` rewrites the file,
/// which is only right for a deliberate, versioned change of the encoding.
#[test]
fn pinned_key_vectors() {
    let mut map = HashMap::new();
    map.insert("b", 2u16);
    map.insert("a", 1u16);
    let cases: Vec<(&str, String)> = vec![
        ("u64", digest(&42u64)),
        ("negative", digest(&-42i32)),
        ("u128_max", digest(&u128::MAX)),
        ("f64", digest(&3.25f64)),
        ("bool", digest(&true)),
        ("str", digest("ord-42")),
        ("unicode", digest("ünïcödé ✓")),
        ("long_str", digest(&"0123456789".repeat(100))),
        // Lengths at and past one byte's 0x80: the varint's second byte.
        ("str_128", digest(&"x".repeat(128))),
        ("str_200", digest(&"y".repeat(200))),
        (
            "i128",
            digest(&-1_701_411_834_604_692_317_316_873_037_158_841_057_i128),
        ),
        ("byte_array", digest(&[1u8, 2, 3])),
        ("seq", digest(&vec![1, 2, 3])),
        ("tuple", digest(&("EUR", 1250))),
        ("tuple_struct", digest(&Money("EUR", 1250))),
        ("map", digest(&map)),
        ("struct", digest(&order())),
        ("enum_unit", digest(&Event::Ping)),
        ("enum_newtype", digest(&Event::Paid(7))),
        ("enum_struct", digest(&Event::Refund { id: 1, cents: -5 })),
        ("enum_tuple", digest(&Event::Moved(1, -1))),
        ("nested", digest(&event())),
        (
            "nested_json",
            digest(&serde_json::json!({
                "z": {"b": [1, {"y": 2, "x": 1}], "a": null}, "a": -1.5, "": "empty key"
            })),
        ),
        (
            "composite",
            Key::builder("billing::charge")
                .part("req.tenant", "acme")
                .part("req.request_id", &7u32)
                .finish()
                .expect("key")
                .storage_key()
                .to_owned(),
        ),
        (
            "fingerprint",
            Fingerprint::builder()
                .part(&order())
                .finish()
                .expect("fp")
                .as_str()
                .to_owned(),
        ),
    ];
    let computed: BTreeMap<&str, String> = cases.into_iter().collect();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/key_vectors.json");
    if std::env::var_os("IDEM_BLESS").is_some() {
        let json = serde_json::to_string_pretty(&computed).expect("json");
        std::fs::write(path, json + "\n").expect("write vectors");
    }
    let pinned: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("tests/key_vectors.json"))
            .expect("vectors json");
    assert_eq!(pinned.len(), computed.len(), "every vector is pinned");
    for (name, digest) in &computed {
        assert_eq!(
            pinned.get(*name),
            Some(digest),
            "key vector `{name}` changed: this would re-run every duplicate in flight"
        );
    }
}

proptest! {
    #[test]
    fn hashmap_insertion_order_never_matters(entries in proptest::collection::btree_map(".{0,8}", any::<i64>(), 0..24)) {
        // Each HashMap has its own random hasher, so iteration orders differ.
        let forward: HashMap<String, i64> = entries.clone().into_iter().collect();
        let mut backward = HashMap::new();
        for (k, v) in entries.iter().rev() {
            backward.insert(k.clone(), *v);
        }
        prop_assert_eq!(digest(&forward), digest(&backward));
        prop_assert_eq!(digest(&forward), digest(&entries));
    }

    #[test]
    fn distinct_strings_get_distinct_keys(a in ".{1,16}", b in ".{1,16}") {
        prop_assume!(a != b);
        prop_assert_ne!(digest(&a), digest(&b));
    }
}
