//! `http::parse_unique_params` on a callback body at the hosts' body limits: 64 KiB (nginx
//! module), 256 KiB, 1 MiB (C host), of distinct `name=value` pairs — the worst case for the
//! duplicate check.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ezauth::http::parse_unique_params;

/// `p0=v0&p1=v1&...`, at most `len` bytes.
fn many_params(len: usize) -> String {
    let mut body = String::with_capacity(len);
    for i in 0.. {
        let pair = format!("p{i}=v{i}&");
        if body.len() + pair.len() > len {
            break;
        }
        body.push_str(&pair);
    }
    body
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_unique_params");
    group.sample_size(20);
    for (name, len) in [
        ("64KiB", 64 << 10),
        ("256KiB", 256 << 10),
        ("1MiB", 1 << 20),
    ] {
        let body = many_params(len);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| parse_unique_params(black_box(body)).map(|p| p.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
