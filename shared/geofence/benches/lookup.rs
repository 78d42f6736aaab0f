//! Lookup cost against the India fixture: random points in India's bounding box (many fall
//! in the sea or neighbouring countries, which exercises the R-tree's early exit), and the 47
//! named test points (all inside or near a region, the common production case); then a whole
//! policy check (`Geofence::check`: lookup, IP database, reconciliation), whose per-check
//! percentiles are printed from individually timed checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/points.rs"]
mod points;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geofence::testing::MmdbWriter;
use geofence::{FeaturePolicy, Geofence, IpLocator, Policy, RegionIndex, Rule, Snapshot};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

const INDIA: &str = include_str!("../data/india-states.geojson");
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

    let geofence = geofence(index);
    let client = IpAddr::V4(Ipv4Addr::new(49, 36, 1, 1));
    percentiles(&geofence, &random, client);
    let mut group = c.benchmark_group("check");
    group.throughput(Throughput::Elements(RANDOM_POINTS as u64));
    group.bench_function("position_and_ip_x10000", |b| {
        b.iter(|| {
            for &(lat, lon) in &random {
                black_box(
                    geofence
                        .check("paid_quiz", Some((lat, lon)), Some(client))
                        .unwrap(),
                );
            }
        });
    });
    group.finish();

    c.bench_function("build_index_india", |b| {
        b.iter(|| RegionIndex::from_geojson_str(black_box(INDIA)).unwrap());
    });
}

/// The live geofence a node runs: all of India's states, a paid-quiz policy restricting six
/// of them, and an IP database.
fn geofence(index: RegionIndex) -> Geofence {
    let policy = ["IN-AP", "IN-AS", "IN-NL", "IN-OD", "IN-SK", "IN-TS"]
        .into_iter()
        .fold(FeaturePolicy::new(Rule::Allow, Rule::Deny), |p, code| {
            p.with_region(code, Rule::Deny)
        });
    let ip = MmdbWriter::new()
        .network(Ipv4Addr::new(49, 36, 0, 0), 16, "IN", Some("MH"))
        .build();
    Geofence::new(Snapshot {
        index: Arc::new(index),
        policy: Arc::new(Policy::new().with_feature("paid_quiz", policy)),
        ip: Some(Arc::new(IpLocator::from_bytes(ip).unwrap())),
    })
}

/// Times 100k checks one by one and prints p50/p99/p99.9/max: the tail a request sees,
/// which a mean hides.
fn percentiles(geofence: &Geofence, points: &[(f64, f64)], client: IpAddr) {
    let mut nanos: Vec<u128> = (0..100_000)
        .map(|i| {
            let (lat, lon) = points[i % points.len()];
            let started = Instant::now();
            black_box(
                geofence
                    .check("paid_quiz", Some((lat, lon)), Some(client))
                    .unwrap(),
            );
            started.elapsed().as_nanos()
        })
        .collect();
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() as f64 * q) as usize).min(nanos.len() - 1)];
    let total: u128 = nanos.iter().sum();
    println!(
        "geofence check (position + IP, all Indian states), 100k checks timed one by one: \
         p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns; {:.0} checks/s on one core",
        at(0.50),
        at(0.99),
        at(0.999),
        nanos[nanos.len() - 1],
        1e9 * nanos.len() as f64 / total as f64
    );
}

criterion_group!(benches, lookups);
criterion_main!(benches);
