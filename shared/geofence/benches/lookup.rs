//! Lookup cost against the India fixture: random points in India's bounding box (many fall
//! in the sea or neighbouring countries, which exercises the R-tree's early exit), and the 47
//! named test points (all inside or near a region, the common production case).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/points.rs"]
mod points;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geofence::RegionIndex;

const INDIA: &str = include_str!("../tests/fixtures/india-states.geojson");
const RANDOM_POINTS: usize = 10_000;

/// A fixed-seed xorshift so runs compare like with like without pulling in `rand`.
fn random_points(n: usize) -> Vec<(f64, f64)> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Top 53 bits as a uniform fraction in [0, 1).
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    // India's bounding box, claimed territory included.
    (0..n)
        .map(|_| (6.5 + next() * (37.1 - 6.5), 68.1 + next() * (97.4 - 68.1)))
        .collect()
}

fn lookups(c: &mut Criterion) {
    let index = RegionIndex::from_geojson_str(INDIA).unwrap();
    let random = random_points(RANDOM_POINTS);
    let hits = random
        .iter()
        .filter(|&&(lat, lon)| index.lookup(lat, lon).unwrap().is_some())
        .count();
    println!("random points inside a region: {hits} of {RANDOM_POINTS}");

    let mut group = c.benchmark_group("lookup");
    // One element = one lookup, so criterion's thrpt line reads as lookups per second and
    // time / elements is ns per lookup.
    group.throughput(Throughput::Elements(RANDOM_POINTS as u64));
    group.bench_function("random_india_bbox_x10000", |b| {
        b.iter(|| {
            for &(lat, lon) in &random {
                black_box(index.lookup(black_box(lat), black_box(lon)).unwrap());
            }
        });
    });
    group.throughput(Throughput::Elements(points::POINTS.len() as u64));
    group.bench_function("named_cities_x47", |b| {
        b.iter(|| {
            for &(_, lat, lon, _) in &points::POINTS {
                black_box(index.lookup(black_box(lat), black_box(lon)).unwrap());
            }
        });
    });
    group.finish();

    c.bench_function("build_index_india", |b| {
        b.iter(|| RegionIndex::from_geojson_str(black_box(INDIA)).unwrap());
    });
}

criterion_group!(benches, lookups);
criterion_main!(benches);
