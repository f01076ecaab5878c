//! Table tests of the pure parts of a records pass: zone assignment, refused-group filtering,
//! batch cutting and the capped "written" Events.

use super::*;
use crate::cloudflare::types::RecordType;
use crate::model::ObjectRef;
use crate::records::Op;
use crate::records::apply::chunk;

fn zones() -> Vec<ZoneRef> {
    ["example.com", "sub.example.com", "example.org"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| ZoneRef {
            id: format!("z{i}"),
            name: name.into(),
        })
        .collect()
}

fn filter(include: &[&str], exclude: &[&str]) -> DomainFilter {
    let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    DomainFilter::new(&list(include), &list(exclude), None, None).unwrap()
}

#[test]
fn each_name_goes_to_the_longest_zone_it_is_within() {
    use Placement::*;
    let all = DomainFilter::default();
    let com = filter(&["example.com"], &[]);
    let no_sub = filter(&[], &["sub.example.com"]);
    let cases: &[(&str, &DomainFilter, Placement)] = &[
        ("app.example.com", &all, Zone(0)),
        ("example.com", &all, Zone(0)),
        ("app.example.com.", &all, Zone(0)),
        ("x.sub.example.com", &all, Zone(1)),
        ("sub.example.com", &all, Zone(1)),
        ("*.sub.example.com", &all, Zone(1)),
        ("www.example.org", &all, Zone(2)),
        // On a label boundary only.
        ("notexample.com", &all, NoZone),
        ("app.example.net", &all, NoZone),
        // A name the filter does not select is left out without a word.
        ("www.example.org", &com, Filtered),
        ("app.example.net", &com, Filtered),
        ("app.example.com", &com, Zone(0)),
        ("x.sub.example.com", &no_sub, Filtered),
        ("app.example.com", &no_sub, Zone(0)),
    ];
    for (name, domains, want) in cases {
        assert_eq!(place(name, &zones(), domains), *want, "{name}");
    }
}

#[test]
fn a_name_in_no_zone_names_the_zones_in_scope() {
    assert_eq!(
        no_zone_message("app.example.net", &zones()),
        "hostname app.example.net is in none of the zones in scope (example.com, sub.example.com, example.org)"
    );
    assert_eq!(
        place("app.example.com", &[], &DomainFilter::default()),
        Placement::NoZone
    );
}

/// A record to delete, from Cloudflare's JSON (the wire form, whatever the cache keeps).
fn record(n: u32, name: &str) -> DnsRecord {
    serde_json::from_value(serde_json::json!({
        "id": format!("{n:032x}"),
        "name": name,
        "type": RecordType::A.as_str(),
        "content": format!("192.0.2.{n}"),
    }))
    .expect("a record")
}

/// A group of `ops` deletions at `name`, with an object unless `object` is false.
fn group(name: &str, ops: u32, object: bool) -> ChangeGroup {
    ChangeGroup {
        name: name.into(),
        object: object.then(|| {
            let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                ..Default::default()
            };
            ObjectRef::of("Ingress", &meta)
        }),
        ops: (1..=ops).map(|n| Op::Delete(record(n, name))).collect(),
    }
}

fn rejected(name: &str) -> Rejected {
    Rejected {
        name: name.into(),
        object: None,
        message: "9005: no".into(),
    }
}

#[test]
fn a_refused_group_is_skipped_until_it_changes() {
    let mut refused = Refused::default();
    let batch = [
        group("a.example.com", 1, true),
        group("b.example.com", 2, true),
    ];
    refused.remember(
        &batch,
        &[rejected("b.example.com"), rejected("gone.example.com")],
    );
    let cases = [
        (group("a.example.com", 1, true), false, "accepted"),
        (group("b.example.com", 2, true), true, "refused, unchanged"),
        (
            group("b.example.com", 2, false),
            true,
            "the object is not part of it",
        ),
        (group("b.example.com", 3, true), false, "changed operations"),
        (
            group("gone.example.com", 1, true),
            false,
            "not in the batch",
        ),
    ];
    for (g, want, why) in &cases {
        assert_eq!(refused.holds(g), *want, "{why}");
    }
    refused.clear();
    assert!(
        !refused.holds(&group("b.example.com", 2, true)),
        "a resync forgets"
    );
}

#[test]
fn batches_cut_as_the_whole_plan_would_be() {
    let sizes: &[(&[u32], usize)] = &[
        (&[], 10),
        (&[1], 10),
        (&[3, 3, 3, 3], 10),
        (&[5, 5, 5], 10),
        (&[2, 9, 1, 1, 8, 2], 10),
        (&[1, 1, 1], 1),
        (&[12, 1], 10),
        (&[1, 12, 1], 10),
    ];
    for (ops, limit) in sizes {
        let groups: Vec<ChangeGroup> = ops
            .iter()
            .enumerate()
            .map(|(i, n)| group(&format!("h{i}.example.com"), *n, true))
            .collect();
        let mut cut: Vec<Vec<usize>> = Vec::new();
        let mut batch = Batch::default();
        let mut members = Vec::new();
        let mut plan = groups.iter().cloned().enumerate();
        loop {
            let next = plan.next();
            if batch.full_before(next.as_ref().map(|(_, g)| g), *limit) {
                cut.push(std::mem::take(&mut members));
                batch.clear();
            }
            let Some((i, g)) = next else { break };
            members.push(i);
            batch.push(g);
        }
        assert_eq!(cut, chunk(&groups, *limit), "{ops:?} by {limit}");
    }
}

#[test]
fn written_events_skip_refused_and_objectless_groups_and_stop_at_the_cap() {
    let names = |ns: &[Notice]| ns.iter().map(|n| n.object.to_string()).collect::<Vec<_>>();
    let mut told = 0;
    let batch = [
        group("a", 1, true),
        group("b", 1, false),
        group("c", 1, true),
    ];
    let (ns, capped) = written_notices(&batch, &[rejected("c")], &mut told);
    assert_eq!(
        (names(&ns), capped, told),
        (vec!["Ingress shop/a".to_string()], false, 1)
    );
    assert_eq!(ns[0].reason, "RecordsWritten");
    assert_eq!(ns[0].severity, Severity::Normal);

    // A cold start's batches: the pass tells MAX_WRITE_EVENTS in all, and says so once.
    let big: Vec<ChangeGroup> = (0..MAX_WRITE_EVENTS + 5)
        .map(|i| group(&format!("h{i}"), 1, true))
        .collect();
    let (ns, capped) = written_notices(&big, &[], &mut told);
    assert_eq!((ns.len(), capped), (MAX_WRITE_EVENTS - 1, true));
    let (ns, capped) = written_notices(&big, &[], &mut told);
    assert_eq!((ns.len(), capped), (0, false));
}

#[test]
fn a_refusal_is_a_warning_on_its_object() {
    let mut with_object = rejected("a.example.com");
    with_object.object = group("a.example.com", 1, true).object;
    let ns = rejected_notices(&[with_object, rejected("gone.example.com")]);
    assert_eq!(
        ns.len(),
        1,
        "a deletion of an object gone has no one to tell"
    );
    assert_eq!(
        (
            ns[0].reason.as_str(),
            ns[0].severity,
            ns[0].message.as_str()
        ),
        (
            "RecordRejected",
            Severity::Warning,
            "a.example.com: 9005: no"
        )
    );
}
