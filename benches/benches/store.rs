//! Store hot paths, synchronously: writing enqueued tasks, rewriting their state, and one
//! group-commit flush.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use stalk_broker::engine::{TaskBody, TaskId, TaskMeta, TaskOptions, TaskState, Write};
use stalk_broker::store::{Store, StoreConfig};

fn meta(key: u64) -> TaskMeta {
    TaskMeta {
        key,
        id: TaskId::new(&format!("task-{key}")),
        name: Arc::from("bench.noop"),
        queue: Arc::from("bench"),
        ready_seq: key,
        due_ms: 0,
        enqueued_ms: 1,
        options: TaskOptions::default(),
        attempts: 0,
        payload_size: 200,
        priority: 0,
        state: TaskState::Ready,
        cold: None,
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreConfig {
        path: dir.path().join("data"),
        cache_bytes: 64 << 20,
        flush_every_ms: 1_000,
        min_free_bytes: 0,
        accept_data_loss: false,
    })
    .expect("open store");
    (dir, store)
}

fn inserts(c: &mut Criterion) {
    let mut group = c.benchmark_group("store/insert");
    for batch in [1usize, 100] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let (_dir, store) = store();
            let mut next = 0u64;
            b.iter_batched(
                || {
                    (0..batch)
                        .map(|_| {
                            next += 1;
                            let body = TaskBody {
                                payload: vec![b'x'; 200].into(),
                                ..TaskBody::default()
                            };
                            Write::Insert(Box::new((meta(next), body)))
                        })
                        .collect::<Vec<_>>()
                },
                |writes| store.apply(black_box(writes)).expect("apply"),
                BatchSize::SmallInput,
            );
            let last = store.body(next).expect("read back");
            assert!(last.is_some(), "the last task is stored");
        });
    }
    group.finish();
}

fn flush(c: &mut Criterion) {
    let mut group = c.benchmark_group("store/flush");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_task_then_flush", |b| {
        let (_dir, store) = store();
        let mut next = 0u64;
        b.iter(|| {
            next += 1;
            let write = Write::Update(Box::new((meta(next), None)));
            store.apply(vec![write]).expect("apply");
            store.flush().expect("flush");
        });
    });
    group.finish();
}

criterion_group!(benches, inserts, flush);
criterion_main!(benches);
