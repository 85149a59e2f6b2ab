//! Rows mapped per second: CSV record -> validated body -> JSON, the work `plan` does per row
//! (SPEC §8.4 measures the whole binary; this isolates the mapper).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use notion_bulk::mapping::{Mapped, Mapper, MappingOptions};
use notion_bulk::source::{Record, SourceRow};

const HEADER: &str = "page_id,Name:title,Status:status,Priority:select,Tags:multi_select,Due:date,Done:checkbox,Estimate:number,Link:url,Owner:people,Notes:text";

fn rows(n: usize) -> Vec<SourceRow> {
    (0..n)
        .map(|i| {
            let line = format!(
                "{:032x},Task number {i},In progress,High,backend;urgent,2026-12-01,no,{i}.5,https://example.com/t/{i},9531985d-5d9d-49f8-9818-e811892f902b,Some notes about task {i}",
                i as u128 * 7919 + 1
            );
            let record = csv::ByteRecord::from(line.split(',').collect::<Vec<_>>());
            SourceRow { row: i as u64 + 1, line: i as u64 + 2, record: Record::Csv(record) }
        })
        .collect()
}

fn bench_mapping(c: &mut Criterion) {
    let headers: Vec<String> = HEADER.split(',').map(str::to_owned).collect();
    let mut mapper = Mapper::for_csv(&headers, MappingOptions::default()).unwrap();
    let input = rows(1000);
    let mut out = Vec::with_capacity(1 << 20);
    let mut group = c.benchmark_group("mapping");
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function("csv_row_to_json_body", |b| {
        b.iter(|| {
            out.clear();
            for row in &input {
                if let Mapped::Update(update) = mapper.map(row) {
                    serde_json::to_writer(&mut out, &update.body).unwrap();
                    out.push(b'\n');
                }
            }
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_mapping);
criterion_main!(benches);
