//! ACL checks on a large file: 1,000 users with 5 rules each, plus patterns.
//!
//! `cargo bench -p tern-broker --bench acl -- --measurement-time 2 --warm-up-time 1`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tern_broker::auth::acl::{Access, AclFile};

fn acl() -> AclFile {
    let mut text = String::from("topic read public/#\n");
    for u in 0..1000 {
        text.push_str(&format!(
            "user user{u}\ntopic readwrite home/user{u}/#\ntopic deny home/user{u}/secret\n\
             topic read weather/+/user{u}\ntopic write telemetry/user{u}/+\ntopic read $SYS/broker/load/#\n"
        ));
    }
    text.push_str(
        "pattern readwrite devices/%c/#\npattern read users/%u/inbox\npattern deny devices/%c/firmware\n",
    );
    AclFile::parse(&text, "bench.acl").expect("valid ACL")
}

fn checks(c: &mut Criterion) {
    let acl = acl();
    let user = Some("user500");
    c.bench_function("acl/write_granted_by_user_rule", |b| {
        b.iter(|| {
            acl.check(
                black_box("dev-500"),
                black_box(user),
                black_box("home/user500/kitchen/temp"),
                Access::Write,
            )
        })
    });
    c.bench_function("acl/read_denied_after_all_rules", |b| {
        b.iter(|| {
            acl.check(black_box("dev-500"), black_box(user), black_box("other/place/entirely"), Access::Read)
        })
    });
    c.bench_function("acl/write_granted_by_pattern", |b| {
        b.iter(|| {
            acl.check(black_box("dev-500"), black_box(user), black_box("devices/dev-500/temp"), Access::Write)
        })
    });
    c.bench_function("acl/subscribe_wildcard", |b| {
        b.iter(|| {
            acl.check(black_box("dev-500"), black_box(user), black_box("home/+/kitchen/#"), Access::Subscribe)
        })
    });
    c.bench_function("acl/parse_5000_rules", |b| {
        let text = (0..1000)
            .map(|u| {
                format!("user user{u}\ntopic readwrite home/user{u}/#\ntopic deny home/user{u}/secret\n")
            })
            .collect::<String>();
        b.iter(|| AclFile::parse(black_box(&text), "bench.acl"))
    });
}

criterion_group!(benches, checks);
criterion_main!(benches);
