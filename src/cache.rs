//! A bounded map from token hash to verdict, with least-recently-used
//! eviction by generations.
//!
//! Two maps, each holding at most half the capacity: lookups hit the young
//! map or promote from the old one; when the young map fills, the old
//! generation is dropped whole. O(1) per operation, no linked list, and an
//! entry survives as long as it was used within the last half-capacity
//! insertions, which is the LRU property that matters here.

use std::collections::HashMap;

/// A SHA-256 digest: the cache key (tokens themselves are never stored).
pub type Digest = [u8; 32];

/// SHA-256 of a token.
pub fn digest(token: &str) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A capacity-bounded LRU-by-generation map with per-entry expiry.
#[derive(Clone, Debug)]
pub struct Lru<V> {
    half: usize,
    young: HashMap<Digest, (i64, V)>,
    old: HashMap<Digest, (i64, V)>,
}

impl<V: Clone> Lru<V> {
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
    pub fn get(&mut self, key: &Digest, now: i64) -> Option<V> {
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
    pub fn insert(&mut self, key: Digest, value: V, until: i64) {
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

    fn k(i: u32) -> Digest {
        digest(&i.to_string())
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
