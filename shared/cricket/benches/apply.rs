//! What a match room pays per event, on a real match (IPL 2014, MI v DD: 242 events, 238
//! of them balls).
//!
//! - `replay`: every event of the match applied to a fresh `Match`, validation included;
//!   criterion's `elem/s` is events per second.
//! - `scorecard`: the full scorecard of the finished match, read off its state.
//! - `undo_last_ball`: `Undo` on the finished match, which rebuilds the state from its log.
//! - `parse`: importing the Cricsheet file (which replays it as it goes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use cricket::{Match, MatchEvent, cricsheet};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const FILE: &[u8] = include_bytes!("../tests/fixtures/729309.json");

fn benches(c: &mut Criterion) {
    let events = cricsheet::parse(FILE).unwrap().events;
    let finished = Match::replay(&events).unwrap();

    let mut group = c.benchmark_group("match");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("replay", |b| {
        b.iter(|| {
            let mut game = Match::new();
            for event in &events {
                game.apply(black_box(event)).unwrap();
            }
            game
        });
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("scorecard", |b| b.iter(|| black_box(&finished).scorecard()));
    group.bench_function("undo_last_ball", |b| {
        b.iter_batched(
            || finished.clone(),
            |mut game| {
                game.apply(&MatchEvent::Undo).unwrap();
                game
            },
            BatchSize::SmallInput,
        );
    });
    group.throughput(Throughput::Bytes(FILE.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| cricsheet::parse(black_box(FILE)).unwrap())
    });
    group.finish();
}

criterion_group!(apply, benches);
criterion_main!(apply);
