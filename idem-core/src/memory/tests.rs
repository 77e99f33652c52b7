//! MemoryStore's own tests: layout, sweeping, and scale behaviour.

use super::*;

#[test]
fn a_slot_is_96_bytes_and_an_index_entry_8() {
    assert_eq!(std::mem::size_of::<Slot>(), 96);
    assert_eq!(std::mem::size_of::<IndexEntry>(), 8);
}

#[test]
fn hex_parsing_accepts_exactly_the_lowercase_digits() {
    let digits = b"0123456789abcdef";
    for c in 0..=255u8 {
        let mut hex = [b'0'; 64];
        for pos in [0, 7, 8, 63] {
            hex[pos] = c;
            let expected = digits.iter().position(|&d| d == c).map(|v| v as u8);
            let parsed = parse_hex(&hex);
            match expected {
                Some(v) => {
                    let p = parsed.expect("valid");
                    let byte = p[pos / 2];
                    assert_eq!(if pos % 2 == 0 { byte >> 4 } else { byte & 0xf }, v);
                }
                None => assert_eq!(parsed, None, "byte {c:#x} at {pos}"),
            }
            hex[pos] = b'0';
        }
    }
    let mut hex = String::new();
    let digest: [u8; 32] = std::array::from_fn(|i| (i * 37 + 5) as u8);
    crate::key::push_hex(&mut hex, &digest);
    assert_eq!(parse_hex(hex.as_bytes()), Some(digest));
}

#[test]
fn many_namespaces_are_found_by_hash_past_the_scan() {
    let hasher = RandomState::default();
    let mut namespaces = Namespaces::default();
    let names: Vec<String> = (0..50).map(|i| format!("ns::f{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        assert_eq!(namespaces.intern(n, &hasher), i as u32);
        assert_eq!(namespaces.intern(n, &hasher), i as u32, "interned once");
    }
    for (i, n) in names.iter().enumerate() {
        assert_eq!(namespaces.get(n, &hasher), Some(i as u32));
        assert_eq!(namespaces.name(i as u32), n);
    }
    assert_eq!(namespaces.get("ns::missing", &hasher), None);
}

#[test]
fn only_lowercase_64_digit_hex_after_the_last_hash_is_a_digest_key() {
    let hex = "ab".repeat(32);
    let canonical = format!("a#b::f#{hex}");
    assert!(
        matches!(KeyRef::parse(&canonical), KeyRef::Digest { ns: "a#b::f", digest } if digest == [0xab; 32])
    );
    for other in [
        format!("ns#{}", hex.to_uppercase()),
        format!("ns#{}", &hex[..62]),
        format!("ns#{hex}0"),
        "docs::store#00".to_owned(),
        hex.clone(),
    ] {
        assert!(matches!(KeyRef::parse(&other), KeyRef::Other(_)), "{other}");
    }
}

#[tokio::test]
async fn replays_share_one_record_until_the_key_is_taken_over() {
    let store = MemoryStore::new();
    let key = format!("tests::share#{}", "0f".repeat(32));
    let claim = |now_ms: u64, token| ClaimRequest {
        key: &key,
        now_ms,
        token,
        lease_until_ms: now_ms + 1_000,
        expires_at_s: now_ms / 1000 + 10,
        fingerprint: None,
    };
    let existing = |claim: Claim| match claim {
        Claim::Existing(record) => record,
        Claim::Acquired(_) => panic!("the key is held"),
    };
    for (round, data) in [(0u64, "\"first\""), (1, &"x".repeat(100))] {
        let now = round * 60_000;
        let Ok(Claim::Acquired(lease)) = store.claim(claim(now, LeaseToken::new())).await else {
            panic!("round {round}: acquired");
        };
        let done = Completion {
            key: &key,
            lease: &lease,
            data: Some(data),
            fingerprint: None,
            expires_at_s: now / 1000 + 10,
        };
        store.complete(done).await.expect("completed");
        let a = existing(
            store
                .claim(claim(now, LeaseToken::new()))
                .await
                .expect("claim"),
        );
        let b = existing(
            store
                .claim(claim(now, LeaseToken::new()))
                .await
                .expect("claim"),
        );
        assert!(Arc::ptr_eq(&a, &b), "one record for every replay");
        assert_eq!(
            (a.key.as_str(), a.data.as_deref()),
            (key.as_str(), Some(data))
        );
        assert_eq!(a.lease, Some(lease));
    }
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn keys_spread_over_many_shards() {
    let store = MemoryStore::new();
    for i in 0..256u32 {
        let key = crate::Key::builder("tests::spread")
            .part("id", &i)
            .finish()
            .expect("a key")
            .storage_key()
            .to_owned();
        let request = ClaimRequest {
            key: &key,
            now_ms: 1_000,
            token: LeaseToken::new(),
            lease_until_ms: 2_000,
            expires_at_s: 10,
            fingerprint: None,
        };
        store.claim(request).await.expect("claim");
    }
    let used = store
        .shards
        .iter()
        .filter(|s| !lock(s).index.is_empty())
        .count();
    // 256 keys over 1024 shards land in about 226 of them; one shard for
    // all would serialize every call of the process on one lock.
    assert!(used > 150, "256 keys in {used} shards");
}

#[tokio::test]
async fn claims_sweep_only_once_a_record_can_be_due() {
    // One record expiring at 10 s; its shard is read back by its key.
    let store = MemoryStore::new();
    let key = "tests::due#whole-key";
    let claim = |now_ms: u64, expires_at_s| ClaimRequest {
        key,
        now_ms,
        token: LeaseToken::new(),
        lease_until_ms: now_ms + 1_000,
        expires_at_s,
        fingerprint: None,
    };
    store.claim(claim(1_000, 10)).await.expect("claim");
    let cursor = || {
        let parsed = KeyRef::parse(key);
        let (shard, _) = store.shard(&parsed);
        (shard.cursor, shard.earliest_s)
    };
    assert_eq!(cursor(), (0, 10), "the shard knows its earliest expiry");
    // Expired, but within the grace: nothing is due, no slot is looked at.
    let within = 10_000 + SWEEP_GRACE_MS - 1;
    store
        .claim(claim(within, within / 1000 + 10))
        .await
        .expect("claim");
    assert_eq!(cursor().0, 0, "no sweep before anything is due");
    // Past the grace the sweep runs (and the retaken key's slot is live again).
    let past = 10_000 + SWEEP_GRACE_MS;
    store
        .claim(claim(past, past / 1000 + 10))
        .await
        .expect("claim");
    assert_ne!(cursor().0, 0, "a due shard is swept");
    assert_eq!(store.len(), 1);
}

fn slot(n: u32) -> Slot {
    let mut digest = [0; 32];
    digest[..4].copy_from_slice(&n.to_le_bytes());
    Slot {
        token: LeaseToken::new(),
        digest,
        lease_until_ms: 0,
        expires_at_s: 0,
        extra: None,
        ns: 0,
        flags: 0,
        data_len: 0,
        inline: [0; INLINE],
    }
}

#[test]
fn a_slab_keeps_every_slot_across_chunks_and_reuses_vacated_ones() {
    let mut slab = Slab::default();
    for n in 0..1000 {
        assert_eq!(slab.alloc(slot(n)), n);
        assert_eq!(slab.len(), n + 1);
    }
    // 8 + 16 + … + 512 slots: seven chunks, none copied.
    assert_eq!(slab.chunks.len(), 7);
    for n in 0..1000 {
        assert_eq!(slab.get(n).digest[..4], n.to_le_bytes(), "slot {n}");
    }
    slab.vacate(500);
    assert_eq!(slab.get(500).ns, FREE);
    assert_eq!(slab.alloc(slot(7777)), 500);
    assert_eq!(slab.len(), 1000);
    assert_eq!(slab.alloc(slot(1000)), 1000);
    assert_eq!(slab.get(999).digest[..4], 999u32.to_le_bytes());
}

#[test]
fn slots_fill_each_doubling_chunk_in_order() {
    let mut expected = Vec::new();
    for chunk in 0..12 {
        for at in 0..FIRST << chunk {
            expected.push((chunk, at));
        }
    }
    for (i, want) in expected.into_iter().enumerate() {
        assert_eq!(locate(i as u32), want, "slot {i}");
    }
    assert_eq!(locate(u32::MAX).0, 29);
}
