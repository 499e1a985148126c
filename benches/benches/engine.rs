//! Engine hot paths, synchronously (no network, no disk): enqueue, and a lease + ack cycle.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use stalk_broker::engine::{
    AckOutcome, Command, Ctx, Engine, EngineConfig, NewTask, Reply, TaskBody, TaskId, TaskOptions,
    TaskResult,
};

fn tasks(prefix: u64, n: usize) -> Vec<NewTask> {
    (0..n)
        .map(|i| NewTask {
            id: TaskId::new(&format!("{prefix}-{i}")),
            name: "bench.noop".into(),
            queue: "bench".into(),
            priority: 0,
            unique_key: None,
            options: TaskOptions::default(),
            expires: None,
            eta: None,
            body: TaskBody {
                payload: vec![b'x'; 200].into(),
                ..TaskBody::default()
            },
            flow: None,
        })
        .collect()
}

fn engine() -> Engine {
    Engine::new(EngineConfig {
        result_ttl_ms: 86_400_000,
        priority_aging_ms: 60_000,
    })
}

fn enqueue(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine/enqueue");
    for batch in [1usize, 100, 1000] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let mut engine = engine();
            let mut seq = 1;
            let prefix = std::cell::Cell::new(0);
            b.iter_batched(
                || {
                    prefix.set(prefix.get() + 1);
                    tasks(prefix.get(), batch)
                },
                |batch_tasks| {
                    seq += 1;
                    let outcome = engine
                        .apply(Command::Enqueue(batch_tasks), Ctx { now_ms: 1, seq })
                        .expect("enqueue");
                    assert_eq!(outcome.writes.len(), batch, "every task is written");
                    black_box(outcome)
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn lease_ack(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine/lease_ack");
    for batch in [1usize, 100] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let mut engine = engine();
            let mut seq = 1;
            let prefix = std::cell::Cell::new(0);
            b.iter_batched(
                || {
                    prefix.set(prefix.get() + 1);
                    tasks(prefix.get(), batch)
                },
                |batch_tasks| {
                    seq += 3;
                    let ctx = |s| Ctx { now_ms: 1, seq: s };
                    engine
                        .apply(Command::Enqueue(batch_tasks), ctx(seq))
                        .expect("enqueue");
                    let leased = engine
                        .apply(
                            Command::Lease {
                                queues: vec!["bench".into()],
                                max: batch,
                                lease_ms: None,
                                prefetch: false,
                                worker: None,
                            },
                            ctx(seq + 1),
                        )
                        .expect("lease");
                    let Reply::Leased(granted) = leased.reply else {
                        panic!("lease answered {:?}", leased.reply);
                    };
                    assert_eq!(granted.len(), batch, "every task is leased");
                    let acks = granted
                        .iter()
                        .map(|g| {
                            let outcome = AckOutcome::Success(TaskResult::default());
                            (g.meta.id.to_string(), g.lease_id, outcome)
                        })
                        .collect();
                    black_box(
                        engine
                            .apply(Command::AckMany(acks), ctx(seq + 2))
                            .expect("ack"),
                    )
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, enqueue, lease_ack);
criterion_main!(benches);
