//! Which partition a KafkaSink writes a record to. A keyed record goes where the Java client's
//! default partitioner puts it (`toPositive(murmur2(key)) % partitions`), so Herald and Java
//! producers agree on the partition of a key and per-key order holds across them. Records
//! without a key are spread round-robin.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`): MurmurHash2, 32-bit, seed
/// `0x9747b28c`, little-endian blocks.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    // Kafka hashes the length as a Java int.
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&b) = tail.first() {
        h ^= u32::from(b);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a keyed record among `partitions` (> 0).
pub fn for_key(key: &[u8], partitions: usize) -> usize {
    let positive = (murmur2(key) & 0x7fff_ffff) as usize;
    positive % partitions.max(1)
}

/// Picks partitions: by key hash, else round-robin.
#[derive(Debug, Default)]
pub struct Partitioner {
    next: AtomicUsize,
}

impl Partitioner {
    pub fn partition(&self, key: Option<&[u8]>, partitions: usize) -> usize {
        match key {
            Some(k) => for_key(k, partitions),
            None => self.next.fetch_add(1, Ordering::Relaxed) % partitions.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own vectors (`UtilsTest.testMurmur2`).
    #[test]
    fn murmur2_matches_the_java_client() {
        for (input, want) in [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ] {
            assert_eq!(murmur2(input.as_bytes()), want, "{input}");
        }
    }

    #[test]
    fn keyed_records_are_stable_and_in_range() {
        let p = Partitioner::default();
        for key in ["a", "customer-7", "", "ünïcode"] {
            let first = p.partition(Some(key.as_bytes()), 7);
            assert!(first < 7);
            for _ in 0..3 {
                assert_eq!(p.partition(Some(key.as_bytes()), 7), first);
            }
        }
        // toPositive(murmur2("21")) % 16, computed by hand from the Java value.
        assert_eq!(
            for_key(b"21", 16),
            ((-973932308i32 & 0x7fff_ffff) % 16) as usize
        );
    }

    #[test]
    fn unkeyed_records_round_robin() {
        let p = Partitioner::default();
        let got: Vec<usize> = (0..6).map(|_| p.partition(None, 3)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2]);
        assert_eq!(p.partition(None, 0), 0, "no partitions: no panic");
    }
}
