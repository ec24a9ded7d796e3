//! A bounded map from token hash to verdict, with least-recently-used
//! eviction by generations.
//!
//! Two maps, each holding at most half the capacity: lookups hit the young
//! map or promote from the old one; when the young map fills, the old
//! generation is dropped whole. O(1) per operation, no linked list, and an
//! entry survives as long as it was used within the last half-capacity
//! insertions, which is the LRU property that matters here.
//!
//! Tokens themselves are never stored: the verdict caches are keyed by a
//! [`TokenKey`], a keyed hash of the token under a secret each gate draws at
//! random ([`TokenKeyer`]).

use siphasher::sip128::{Hasher128, SipHasher24};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// A SHA-256 digest (API-token hashes, identity assertions).
pub type Digest = [u8; 32];

/// SHA-256 of a token.
pub fn digest(token: &str) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The verdict-cache key of a token: 128 bits of a keyed PRF of its exact
/// bytes (see [`TokenKeyer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenKey(u128);

/// Names tokens in the verdict caches: SipHash-2-4 with a 128-bit output,
/// keyed by 128 random bits drawn when the gate names its first token.
///
/// A cache hit hands out an earlier token's verdict, so two tokens must
/// never share a key. SipHash is a pseudorandom function: without the
/// secret, an attacker cannot compute any token's key, so making a token
/// land on another's (a second preimage) takes ~2^128 guesses, each a
/// request, the same bound SHA-256 truncated to these 128 bits would give.
/// It costs a seventh of SHA-256 in wasm (0.45 against 3.1 µs for a
/// 900-byte token, `bench/hash/run.sh`), and every JWT request pays it, hit
/// or miss.
/// Should the platform have no randomness, the keys are SHA-256 instead
/// (never a PRF under a known key).
///
/// The secret is drawn on first use, not when the gate is built: a
/// Cloudflare Worker builds its gate at module evaluation, where workerd
/// refuses to generate random values, and draws it on its first request.
#[derive(Clone)]
pub struct TokenKeyer {
    /// `None` until the first key; then `Some(None)` for SHA-256 keys.
    secret: Option<Option<(u64, u64)>>,
}

impl std::fmt::Debug for TokenKeyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        let kind = match self.secret {
            None => "not drawn yet",
            Some(Some(_)) => "SipHash-2-4-128",
            Some(None) => "SHA-256",
        };
        f.debug_struct("TokenKeyer").field("kind", &kind).finish()
    }
}

impl TokenKeyer {
    /// A keyer whose secret comes from the platform's randomness when it
    /// names its first token (SHA-256 keys when there is none then).
    pub fn random() -> TokenKeyer {
        TokenKeyer { secret: None }
    }

    fn draw() -> Option<(u64, u64)> {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 16];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .ok()
            .map(|()| {
                let (a, b) = bytes.split_at(8);
                (
                    u64::from_le_bytes(a.try_into().unwrap_or_default()),
                    u64::from_le_bytes(b.try_into().unwrap_or_default()),
                )
            })
    }

    /// The key of `token`.
    pub fn key(&mut self, token: &str) -> TokenKey {
        match *self.secret.get_or_insert_with(TokenKeyer::draw) {
            Some((k0, k1)) => {
                let mut h = SipHasher24::new_with_keys(k0, k1);
                h.write(token.as_bytes());
                TokenKey(h.finish128().as_u128())
            }
            None => {
                let d = digest(token);
                let mut first = [0u8; 16];
                first.copy_from_slice(&d[..16]);
                TokenKey(u128::from_le_bytes(first))
            }
        }
    }
}

/// A capacity-bounded LRU-by-generation map with per-entry expiry.
#[derive(Clone, Debug)]
pub struct Lru<V, K = TokenKey> {
    half: usize,
    young: HashMap<K, (i64, V)>,
    old: HashMap<K, (i64, V)>,
}

impl<V: Clone, K: Copy + Eq + Hash> Lru<V, K> {
    /// A map holding at most `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Lru {
            half: capacity / 2 + capacity % 2,
            young: HashMap::new(),
            old: HashMap::new(),
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value for `key` if present and not expired at `now`.
    pub fn get(&mut self, key: &K, now: i64) -> Option<V> {
        if let Some((until, v)) = self.young.get(key) {
            if now < *until {
                return Some(v.clone());
            }
            self.young.remove(key);
            return None;
        }
        // `remove` hashes the key even in an empty map (`get` does not).
        if self.old.is_empty() {
            return None;
        }
        let (until, v) = self.old.remove(key)?;
        if now >= until {
            return None;
        }
        self.insert(*key, v.clone(), until);
        Some(v)
    }

    /// Stores `value` until `until` (exclusive).
    pub fn insert(&mut self, key: K, value: V, until: i64) {
        if self.half == 0 {
            return;
        }
        if self.young.len() >= self.half && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        if !self.old.is_empty() {
            self.old.remove(&key);
        }
        self.young.insert(key, (until, value));
    }

    /// Drops everything (after a key was withdrawn by the IdP).
    pub fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: u32) -> TokenKey {
        TokenKeyer {
            secret: Some(Some((1, 2))),
        }
        .key(&i.to_string())
    }

    #[test]
    fn token_keys_are_keyed_exact_and_secret() {
        let mut a = TokenKeyer::random();
        let mut b = TokenKeyer::random();
        assert!(a.secret.is_none(), "drawn on first use, not when built");
        assert_eq!(a.key("tok"), a.key("tok"));
        assert!(
            matches!(a.secret, Some(Some(_))),
            "this platform has randomness"
        );
        assert_ne!(a.key("tok"), a.key("tok "));
        assert_ne!(a.key("tok"), a.key("Tok"));
        // Another gate, another secret: keys cannot be computed from outside.
        assert_ne!(a.key("tok"), b.key("tok"));
        assert!(!format!("{a:?}").contains(&a.secret.unwrap().unwrap().0.to_string()));
        // SipHash-2-4-128 as its reference defines it (veorq/SipHash
        // vectors_sip128: key 00..0f, message 00..(i-1), i = 0, 1, 2).
        let mut keyer = TokenKeyer {
            secret: Some(Some((0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908))),
        };
        let want: [[u8; 16]; 3] = [
            [
                0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55,
                0x02, 0x93,
            ],
            [
                0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44, 0x34, 0x76, 0x59, 0x11, 0x9b, 0x22,
                0xfc, 0x45,
            ],
            [
                0x81, 0x77, 0x22, 0x8d, 0xa4, 0xa4, 0x5d, 0xc7, 0xfc, 0xa3, 0x8b, 0xde, 0xf6, 0x0a,
                0xff, 0xe4,
            ],
        ];
        for (i, want) in want.iter().enumerate() {
            let msg: String = (0..i as u8).map(char::from).collect();
            assert_eq!(&keyer.key(&msg).0.to_le_bytes(), want, "vector {i}");
        }
        // Without randomness: SHA-256's first 128 bits, never a known-key PRF.
        let mut sha = TokenKeyer { secret: Some(None) };
        assert_eq!(sha.key("tok").0.to_le_bytes(), digest("tok")[..16]);
    }

    #[test]
    fn bounded_and_recently_used_survive() {
        let mut c = Lru::new(4);
        for i in 0..4 {
            c.insert(k(i), i, 100);
        }
        assert_eq!(c.len(), 4);
        // Touch 0 so it is young again, then insert more.
        assert_eq!(c.get(&k(0), 0), Some(0));
        for i in 4..6 {
            c.insert(k(i), i, 100);
        }
        assert!(c.len() <= 4);
        assert_eq!(c.get(&k(0), 0), Some(0), "recently used entry was evicted");
        assert_eq!(c.get(&k(1), 0), None, "least recently used entry survived");
        for i in 0..1000 {
            c.insert(k(i), i, 100);
            assert!(c.len() <= 4);
        }
    }

    #[test]
    fn expiry() {
        let mut c = Lru::new(10);
        c.insert(k(1), 1, 50);
        assert_eq!(c.get(&k(1), 49), Some(1));
        assert_eq!(c.get(&k(1), 50), None);
        assert!(c.is_empty());
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut c = Lru::new(0);
        c.insert(k(1), 1, 50);
        assert_eq!(c.get(&k(1), 0), None);
    }
}
