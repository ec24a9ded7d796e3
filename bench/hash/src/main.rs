//! The verdict-cache key of a token (`TokenKeyer::key`, SipHash-2-4-128)
//! against the SHA-256 it replaced (`cache::digest`), on tokens of typical
//! sizes, compiled to wasm and run in Node's V8 (bench/hash/run.sh).
//! Median of 15 rounds of 20,000 distinct tokens each, ns per token.

use edgeward::cache::{digest, TokenKeyer};
use std::hint::black_box;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut keyer = TokenKeyer::random();
    println!("keyer: {keyer:?}");
    println!("| token bytes | SHA-256 ns | TokenKeyer ns | ratio |");
    println!("|---|---|---|---|");
    for len in [340usize, 600, 900, 1400] {
        let base: Vec<u8> = (0..len).map(|i| b'A' + (i % 26) as u8).collect();
        let n = 20_000;
        let tokens: Vec<String> = (0..n)
            .map(|i| {
                let mut t = base.clone();
                t[..8].copy_from_slice(format!("{i:08}").as_bytes());
                String::from_utf8(t).unwrap()
            })
            .collect();
        let (mut sha, mut sip) = (Vec::new(), Vec::new());
        for _ in 0..15 {
            let t = Instant::now();
            for tok in &tokens {
                black_box(digest(black_box(tok)));
            }
            sha.push(t.elapsed().as_nanos() as f64 / n as f64);
            let t = Instant::now();
            for tok in &tokens {
                black_box(keyer.key(black_box(tok)));
            }
            sip.push(t.elapsed().as_nanos() as f64 / n as f64);
        }
        let (a, b) = (median(sha), median(sip));
        println!("| {len} | {a:.0} | {b:.0} | {:.1}x |", a / b);
    }
}
