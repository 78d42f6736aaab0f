//! The in-memory check on the request path: one hot client, and many clients spread
//! over the shards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use ratelimit::{ManualClock, MemoryStore, Quota};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn check(c: &mut Criterion) {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(100_000, clock.clone());
    let quota = Quota::new(1_000_000, 60);

    c.bench_function("memory check, one client", |b| {
        b.iter(|| black_box(store.check(black_box("auth:ip:198.51.100.1"), quota)))
    });

    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("auth:ip:10.0.{}.{}", i / 256, i % 256))
        .collect();
    let mut next = 0;
    c.bench_function("memory check, 10k clients", |b| {
        b.iter(|| {
            next = (next + 1) % keys.len();
            // Time moves so allowances refill and the store never refuses.
            clock.advance(Duration::from_micros(1));
            black_box(store.check(&keys[next], quota))
        })
    });
}

criterion_group!(benches, check);
criterion_main!(benches);
