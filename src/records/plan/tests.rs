//! Planner tests: table-driven cases, idempotence through `apply_to`, and a seeded property test
//! that no operation touches a record that is not ours.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::*;
use crate::records::endpoint::CfProps;
use crate::records::registry::{Labels, parse};

const ME: &str = "me";
const ZONE: &str = "example.com";

fn obj(name: &str) -> ObjectRef {
    ObjectRef {
        kind: "Ingress".into(),
        namespace: "default".into(),
        name: name.into(),
        uid: None,
    }
}

fn ep(name: &str, t: RecordType, targets: &[&str], object: &str) -> Endpoint {
    let mut e = Endpoint {
        name: name.into(),
        record_type: t,
        targets: targets.iter().map(|t| t.to_string()).collect(),
        ttl: None,
        props: CfProps::default(),
        resource: format!("ingress/default/{object}").into(),
        kind: "Ingress",
        uid: None,
    };
    e.canonicalize_targets();
    e
}

fn a(name: &str, targets: &[&str], object: &str) -> Endpoint {
    ep(name, RecordType::A, targets, object)
}

fn cname(name: &str, target: &str, object: &str) -> Endpoint {
    ep(name, RecordType::Cname, &[target], object)
}

fn rec(id: &str, name: &str, t: RecordType, content: &str) -> DnsRecord {
    DnsRecord {
        id: id.into(),
        name: name.into(),
        proxiable: Some(t.proxiable()),
        record_type: t,
        content: content.into(),
        proxied: false,
        ttl: 1,
        comment: None,
        tags: Box::default(),
        priority: None,
    }
}

/// An ownership TXT exactly as external-dns writes it (quotes included).
fn txt(id: &str, name: &str, owner: &str, object: &str) -> DnsRecord {
    let content = Labels::new(owner, &format!("ingress/default/{object}")).serialize();
    rec(id, name, RecordType::Txt, &content)
}

fn settings() -> PlanSettings {
    PlanSettings {
        owner_id: ME.into(),
        policy: Policy::Sync,
        txt: TxtNaming::default(),
        managed_types: vec![RecordType::A, RecordType::Aaaa, RecordType::Cname],
        domains: DomainFilter::default(),
        default_proxied: false,
        default_comment: None,
        allow_deletes: true,
    }
}

fn zone() -> ZoneRef {
    ZoneRef {
        id: "zone-1".into(),
        name: ZONE.into(),
    }
}

fn from_input(id: String, i: &DnsRecordInput) -> DnsRecord {
    DnsRecord {
        id,
        name: i.name.clone(),
        record_type: i.record_type.clone(),
        content: i.content.clone(),
        proxied: i.proxied,
        proxiable: Some(i.record_type.proxiable()),
        ttl: i.ttl,
        comment: i.comment.as_deref().map(Into::into),
        tags: i.tags.clone().into(),
        priority: i.priority,
    }
}

/// Applies a plan the way Cloudflare runs a batch (deletes, puts, posts per group), refusing
/// what Cloudflare refuses: missing records, identical records, a CNAME next to anything.
pub(super) fn apply_to(current: &[DnsRecord], plan: &Plan) -> Vec<DnsRecord> {
    let mut out: Vec<DnsRecord> = current.to_vec();
    let mut next = 0;
    for g in &plan.groups {
        for op in &g.ops {
            if let Op::Delete(r) = op {
                let i = out
                    .iter()
                    .position(|x| x.id == r.id)
                    .unwrap_or_else(|| panic!("delete of missing {r:?}"));
                assert_eq!(out[i], *r, "delete carries the record as it is");
                out.remove(i);
            }
        }
        for op in &g.ops {
            if let Op::Update { old, new } = op {
                let x = out
                    .iter_mut()
                    .find(|x| x.id == old.id)
                    .unwrap_or_else(|| panic!("update of missing {old:?}"));
                assert_eq!(*x, *old, "update carries the record as it is");
                assert_eq!(x.record_type, new.record_type);
                *x = from_input(old.id.clone(), new);
            }
        }
        for op in &g.ops {
            if let Op::Create(i) = op {
                let dup = out.iter().any(|x| {
                    x.name.eq_ignore_ascii_case(&i.name)
                        && x.record_type == i.record_type
                        && x.content == i.content
                        && x.priority == i.priority
                });
                assert!(!dup, "identical record exists: {i:?}");
                out.push(from_input(format!("new-{next}"), i));
                next += 1;
            }
        }
        let created: Vec<&str> = g
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Create(i) => Some(i.name.as_str()),
                _ => None,
            })
            .collect();
        for x in out.iter().filter(|x| x.record_type == RecordType::Cname) {
            if created.iter().any(|n| n.eq_ignore_ascii_case(&x.name)) {
                let n = out
                    .iter()
                    .filter(|y| y.name.eq_ignore_ascii_case(&x.name))
                    .count();
                assert_eq!(
                    n, 1,
                    "CNAME {} shares its name after group {}",
                    x.name, g.name
                );
            }
        }
    }
    out
}

/// One line per op: `+A app.example.com 1.2.3.4`, `-TXT a-app.example.com me ingress/default/x`,
/// `~A app.example.com 1.2.3.4`.
fn summary(plan: &Plan) -> Vec<String> {
    let show = |t: &RecordType, name: &str, content: &str| match (t, parse(content)) {
        (RecordType::Txt, Some(l)) => format!("TXT {name} {} {}", l.owner(), l.resource()),
        _ => format!("{t} {name} {content}"),
    };
    let mut v: Vec<String> = plan
        .groups
        .iter()
        .flat_map(|g| &g.ops)
        .map(|op| match op {
            Op::Create(i) => format!("+{}", show(&i.record_type, &i.name, &i.content)),
            Op::Delete(r) => format!("-{}", show(&r.record_type, &r.name, &r.content)),
            Op::Update { old, new } => {
                format!("~{}", show(&new.record_type, &old.name, &new.content))
            }
        })
        .collect();
    v.sort();
    v
}

fn reasons(plan: &Plan) -> Vec<String> {
    let mut v: Vec<String> = plan.notices.iter().map(|n| n.reason.clone()).collect();
    v.sort();
    v
}

fn assert_idempotent(desired: &[Endpoint], current: &[DnsRecord], s: &PlanSettings, label: &str) {
    let p = plan(desired, current, &zone(), s);
    let after = apply_to(current, &p);
    let again = plan(desired, &after, &zone(), s);
    assert!(
        again.is_empty(),
        "{label}: second plan not empty: {:?}",
        summary(&again)
    );
    assert_eq!(again.owned, p.owned, "{label}: owned count after applying");
}

struct Case {
    name: &'static str,
    current: Vec<DnsRecord>,
    desired: Vec<Endpoint>,
    settings: PlanSettings,
    ops: &'static [&'static str],
    notices: &'static [&'static str],
    owned: usize,
}

fn with(f: impl FnOnce(&mut PlanSettings)) -> PlanSettings {
    let mut s = settings();
    f(&mut s);
    s
}

fn cases() -> Vec<Case> {
    let app = "app.example.com";
    let mut proxied_ttl = a(app, &["1.1.1.1"], "web");
    proxied_ttl.props.proxied = Some(true);
    proxied_ttl.ttl = Some(300);
    let mut proxied_cur = rec("r1", app, RecordType::A, "1.1.1.1");
    proxied_cur.proxied = true;
    let mut ttl300 = a(app, &["1.1.1.1"], "web");
    ttl300.ttl = Some(300);
    let mut tagged = a(app, &["1.1.1.1"], "web");
    tagged.props.tags = vec!["a:1".into(), "b:2".into()];
    let mut tagged_cur = rec("r1", app, RecordType::A, "1.1.1.1");
    tagged_cur.tags = vec!["b:2".into(), "a:1".into()].into();
    let mut empty_comment = a(app, &["1.1.1.1"], "web");
    empty_comment.props.comment = Some(String::new());
    let mut mx = ep(app, RecordType::Mx, &["10 mail.example.com"], "web");
    mx.props.proxied = Some(true);
    let mut mx_cur = rec("r1", app, RecordType::Mx, "mail.example.com");
    mx_cur.priority = Some(10);
    let mut bad_a = a(app, &["1.1.1.1"], "web");
    bad_a.targets = vec!["not-an-ip".into()];

    vec![
        Case {
            name: "nothing",
            current: vec![],
            desired: vec![],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 0,
        },
        Case {
            name: "create A with two targets and its TXT",
            current: vec![],
            desired: vec![a(app, &["2.2.2.2", "1.1.1.1"], "web")],
            settings: settings(),
            ops: &[
                "+A app.example.com 1.1.1.1",
                "+A app.example.com 2.2.2.2",
                "+TXT a-app.example.com me ingress/default/web",
            ],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "adopt a zone exactly as external-dns wrote it",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                rec("r2", app, RecordType::A, "2.2.2.2"),
                txt("t1", "a-app.example.com", ME, "web"),
                rec("r3", "www.example.com", RecordType::Cname, "lb.example.net"),
                txt("t2", "cname-www.example.com", ME, "www"),
                rec("r4", "old.example.com", RecordType::A, "3.3.3.3"),
                txt("t3", "old.example.com", ME, "old"),
            ],
            desired: vec![
                a(app, &["1.1.1.1", "2.2.2.2"], "web"),
                cname("www.example.com", "lb.example.net", "www"),
                a("old.example.com", &["3.3.3.3"], "old"),
            ],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 3,
        },
        Case {
            name: "adopt with unquoted TXT content and mixed-case names",
            current: vec![
                rec("r1", "App.Example.com", RecordType::A, "1.1.1.1"),
                rec(
                    "t1",
                    "A-APP.example.com",
                    RecordType::Txt,
                    "heritage=external-dns,external-dns/owner=me,external-dns/resource=ingress/default/web",
                ),
            ],
            desired: vec![a(app, &["1.1.1.1"], "web")],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "target change: delete the old target, create the new one",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                rec("r2", app, RecordType::A, "2.2.2.2"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![a(app, &["2.2.2.2", "3.3.3.3"], "web")],
            settings: settings(),
            ops: &["+A app.example.com 3.3.3.3", "-A app.example.com 1.1.1.1"],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "configured TTL differs: PUT",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![ttl300.clone()],
            settings: settings(),
            ops: &["~A app.example.com 1.1.1.1"],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "proxied record with a differing TTL: no-op",
            current: vec![proxied_cur, txt("t1", "a-app.example.com", ME, "web")],
            desired: vec![proxied_ttl],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "default proxied applies; MX cannot be proxied",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
                mx_cur,
                txt("t2", "mx-app.example.com", ME, "web"),
            ],
            desired: vec![a(app, &["1.1.1.1"], "web"), mx],
            settings: with(|s| {
                s.default_proxied = true;
                s.managed_types.push(RecordType::Mx);
            }),
            ops: &["~A app.example.com 1.1.1.1"],
            notices: &[],
            owned: 2,
        },
        Case {
            name: "IPv6 spelled differently: no-op",
            current: vec![
                rec("r1", app, RecordType::Aaaa, "2001:DB8:0:0::1"),
                txt("t1", "aaaa-app.example.com", ME, "web"),
            ],
            desired: vec![ep(app, RecordType::Aaaa, &["2001:db8::1"], "web")],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "CNAME target case and trailing dot: no-op",
            current: vec![
                rec("r1", app, RecordType::Cname, "LB.Example.net."),
                txt("t1", "cname-app.example.com", ME, "web"),
            ],
            desired: vec![cname(app, "lb.example.net", "web")],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "tags in another order, empty comment: no-op",
            current: vec![tagged_cur, txt("t1", "a-app.example.com", ME, "web")],
            desired: vec![tagged],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "empty comment equals no comment",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![empty_comment],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "default comment is written",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![a(app, &["1.1.1.1"], "web")],
            settings: with(|s| s.default_comment = Some("managed by cfgeo".into())),
            ops: &["~A app.example.com 1.1.1.1"],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "MX with priority: no-op",
            current: vec![],
            desired: vec![ep(app, RecordType::Mx, &["10 mail.example.com"], "web")],
            settings: with(|s| s.managed_types.push(RecordType::Mx)),
            ops: &[
                "+MX app.example.com mail.example.com",
                "+TXT mx-app.example.com me ingress/default/web",
            ],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "delete: records, new- and old-format TXTs of ours",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
                txt("t2", app, ME, "web"),
            ],
            desired: vec![],
            settings: settings(),
            ops: &[
                "-A app.example.com 1.1.1.1",
                "-TXT a-app.example.com me ingress/default/web",
                "-TXT app.example.com me ingress/default/web",
            ],
            notices: &[],
            owned: 0,
        },
        Case {
            name: "delete keeps an old-format TXT another record still relies on",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
                rec("r2", app, RecordType::Mx, "mail.example.com"),
                txt("t2", app, ME, "web"),
            ],
            desired: vec![],
            settings: settings(),
            ops: &[
                "-A app.example.com 1.1.1.1",
                "-TXT a-app.example.com me ingress/default/web",
            ],
            notices: &[],
            owned: 0,
        },
        Case {
            name: "upsert-only never deletes",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![],
            settings: with(|s| s.policy = Policy::UpsertOnly),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "no deletes before the first full listing",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![],
            settings: with(|s| s.allow_deletes = false),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "upsert-only still updates, removing a target",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                rec("r2", app, RecordType::A, "2.2.2.2"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![a(app, &["2.2.2.2"], "web")],
            settings: with(|s| s.policy = Policy::UpsertOnly),
            ops: &["-A app.example.com 1.1.1.1"],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "before the first full listing targets are added, not removed",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![a(app, &["2.2.2.2"], "web")],
            settings: with(|s| s.allow_deletes = false),
            ops: &["+A app.example.com 2.2.2.2"],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "before the first full listing a CNAME keeps its target",
            current: vec![
                rec("r1", app, RecordType::Cname, "lb.example.net"),
                txt("t1", "cname-app.example.com", ME, "web"),
            ],
            desired: vec![cname(app, "lb2.example.net", "web")],
            settings: with(|s| s.allow_deletes = false),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "CNAME target change: delete and create in one group",
            current: vec![
                rec("r1", app, RecordType::Cname, "lb.example.net"),
                txt("t1", "cname-app.example.com", ME, "web"),
            ],
            desired: vec![cname(app, "lb2.example.net", "web")],
            settings: settings(),
            ops: &[
                "+CNAME app.example.com lb2.example.net",
                "-CNAME app.example.com lb.example.net",
            ],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "create-only: no update, creates go ahead",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![
                a(app, &["9.9.9.9"], "web"),
                a("new.example.com", &["1.1.1.1"], "new"),
            ],
            settings: with(|s| s.policy = Policy::CreateOnly),
            ops: &[
                "+A new.example.com 1.1.1.1",
                "+TXT a-new.example.com me ingress/default/new",
            ],
            notices: &[],
            owned: 2,
        },
        Case {
            name: "type switch A to CNAME",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![cname(app, "lb.example.net", "web")],
            settings: settings(),
            ops: &[
                "+CNAME app.example.com lb.example.net",
                "+TXT cname-app.example.com me ingress/default/web",
                "-A app.example.com 1.1.1.1",
                "-TXT a-app.example.com me ingress/default/web",
            ],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "type switch blocked in upsert-only",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![cname(app, "lb.example.net", "web")],
            settings: with(|s| s.policy = Policy::UpsertOnly),
            ops: &[],
            notices: &["TypeSwitchBlocked"],
            owned: 1,
        },
        Case {
            name: "A to AAAA in upsert-only: both coexist",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![ep(app, RecordType::Aaaa, &["::1"], "web")],
            settings: with(|s| s.policy = Policy::UpsertOnly),
            ops: &[
                "+AAAA app.example.com ::1",
                "+TXT aaaa-app.example.com me ingress/default/web",
            ],
            notices: &[],
            owned: 2,
        },
        Case {
            name: "foreign A without TXT blocks a CNAME and is not updated",
            current: vec![rec("r1", app, RecordType::A, "1.1.1.1")],
            desired: vec![cname(app, "lb.example.net", "web")],
            settings: settings(),
            ops: &[],
            notices: &["NotOwned"],
            owned: 0,
        },
        Case {
            name: "foreign A without TXT is not updated",
            current: vec![rec("r1", app, RecordType::A, "1.1.1.1")],
            desired: vec![a(app, &["2.2.2.2"], "web")],
            settings: settings(),
            ops: &[],
            notices: &["NotOwned"],
            owned: 0,
        },
        Case {
            name: "A owned by another owner: no update, no create beside it, no delete",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", "them", "web"),
                rec("r2", "gone.example.com", RecordType::A, "1.1.1.1"),
                txt("t2", "a-gone.example.com", "them", "gone"),
            ],
            desired: vec![
                a(app, &["2.2.2.2"], "web"),
                ep(app, RecordType::Aaaa, &["::1"], "web"),
            ],
            settings: settings(),
            ops: &[],
            notices: &["OwnedByOther", "OwnedByOther"],
            owned: 0,
        },
        Case {
            name: "TXT at the ownership name without heritage is a foreign record",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                rec(
                    "t1",
                    "a-app.example.com",
                    RecordType::Txt,
                    "\"v=spf1 -all\"",
                ),
            ],
            desired: vec![a(app, &["2.2.2.2"], "web")],
            settings: settings(),
            ops: &[],
            notices: &["NotOwned"],
            owned: 0,
        },
        Case {
            name: "contested set (our TXT and theirs) is never touched",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
                txt("t2", "a-app.example.com", "them", "web"),
            ],
            desired: vec![],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 0,
        },
        Case {
            name: "surviving TXT of another owner blocks the create",
            current: vec![txt("t1", "a-app.example.com", "them", "web")],
            desired: vec![a(app, &["1.1.1.1"], "web")],
            settings: settings(),
            ops: &[],
            notices: &["OwnedByOther"],
            owned: 0,
        },
        Case {
            name: "surviving TXT of ours is reused",
            current: vec![txt("t1", "a-app.example.com", ME, "web")],
            desired: vec![a(app, &["1.1.1.1"], "web")],
            settings: settings(),
            ops: &["+A app.example.com 1.1.1.1"],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "surviving TXT of ours with another resource is rewritten",
            current: vec![txt("t1", "a-app.example.com", ME, "old")],
            desired: vec![a(app, &["1.1.1.1"], "web")],
            settings: settings(),
            ops: &[
                "+A app.example.com 1.1.1.1",
                "~TXT a-app.example.com me ingress/default/web",
            ],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "resource label changed: TXT rewritten, records untouched",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "old"),
            ],
            desired: vec![a(app, &["1.1.1.1"], "web")],
            settings: settings(),
            ops: &["~TXT a-app.example.com me ingress/default/web"],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "old-format only, same resource: adopted with zero writes",
            current: vec![
                rec("r1", app, RecordType::Cname, "lb.example.net"),
                txt("t1", "k8s.app.example.com", ME, "web"),
            ],
            desired: vec![cname(app, "lb.example.net", "web")],
            settings: with(|s| s.txt = TxtNaming::new("k8s.", "", "")),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "old-format only, resource changed: new-format TXT created",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", app, ME, "old"),
            ],
            desired: vec![a(app, &["1.1.1.1"], "web")],
            settings: settings(),
            ops: &["+TXT a-app.example.com me ingress/default/web"],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "old format never covers AAAA",
            current: vec![
                rec("r1", app, RecordType::Aaaa, "::1"),
                txt("t1", app, ME, "web"),
            ],
            desired: vec![ep(app, RecordType::Aaaa, &["::2"], "web")],
            settings: settings(),
            ops: &[],
            notices: &["NotOwned"],
            owned: 0,
        },
        Case {
            name: "fewer targets win a conflict",
            current: vec![],
            desired: vec![
                a(app, &["1.1.1.1", "2.2.2.2"], "big"),
                a(app, &["3.3.3.3"], "small"),
            ],
            settings: settings(),
            ops: &[
                "+A app.example.com 3.3.3.3",
                "+TXT a-app.example.com me ingress/default/small",
            ],
            notices: &["HostnameConflict"],
            owned: 1,
        },
        Case {
            name: "lowest target wins a conflict",
            current: vec![],
            desired: vec![a(app, &["10.0.0.1"], "b"), a(app, &["9.0.0.1"], "a")],
            settings: settings(),
            ops: &[
                "+A app.example.com 9.0.0.1",
                "+TXT a-app.example.com me ingress/default/a",
            ],
            notices: &["HostnameConflict"],
            owned: 1,
        },
        Case {
            name: "the current owner keeps the name in a conflict",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                rec("r2", app, RecordType::A, "2.2.2.2"),
                txt("t1", "a-app.example.com", ME, "big"),
            ],
            desired: vec![
                a(app, &["1.1.1.1", "2.2.2.2"], "big"),
                a(app, &["3.3.3.3"], "small"),
            ],
            settings: settings(),
            ops: &[],
            notices: &["HostnameConflict"],
            owned: 1,
        },
        Case {
            name: "CNAME dropped when another type is asked for",
            current: vec![],
            desired: vec![cname(app, "lb.example.net", "c"), a(app, &["1.1.1.1"], "a")],
            settings: settings(),
            ops: &[
                "+A app.example.com 1.1.1.1",
                "+TXT a-app.example.com me ingress/default/a",
            ],
            notices: &["RecordTypeConflict"],
            owned: 1,
        },
        Case {
            name: "apex: TXT named _apex inside the zone",
            current: vec![],
            desired: vec![a(ZONE, &["1.1.1.1"], "apex")],
            settings: with(|s| s.txt = TxtNaming::new("k8s.", "", "")),
            ops: &[
                "+A example.com 1.1.1.1",
                "+TXT k8s.a-_apex.example.com me ingress/default/apex",
            ],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "apex with the external-dns workaround prefix: adopted as is",
            current: vec![
                rec("r1", ZONE, RecordType::A, "1.1.1.1"),
                txt("t1", "k8s-a.example.com", ME, "apex"),
            ],
            desired: vec![a(ZONE, &["1.1.1.1"], "apex")],
            settings: with(|s| s.txt = TxtNaming::new("k8s-%{record_type}.", "", "")),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "apex old format (TXT at the apex itself): adopted",
            current: vec![
                rec("r1", ZONE, RecordType::A, "1.1.1.1"),
                txt("t1", ZONE, ME, "apex"),
            ],
            desired: vec![a(ZONE, &["1.1.1.1"], "apex")],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "wildcard with replacement",
            current: vec![],
            desired: vec![a("*.example.com", &["1.1.1.1"], "wild")],
            settings: with(|s| s.txt = TxtNaming::new("", "", "wildcard")),
            ops: &[
                "+A *.example.com 1.1.1.1",
                "+TXT a-wildcard.example.com me ingress/default/wild",
            ],
            notices: &[],
            owned: 1,
        },
        Case {
            name: "unmanaged record at the name blocks a CNAME",
            current: vec![rec("r1", app, RecordType::Mx, "mail.example.com")],
            desired: vec![cname(app, "lb.example.net", "web")],
            settings: settings(),
            ops: &[],
            notices: &["NameOccupied"],
            owned: 0,
        },
        Case {
            name: "names outside the domain filter are invisible",
            current: vec![
                rec("r1", "x.other.example.com", RecordType::A, "1.1.1.1"),
                txt("t1", "a-x.other.example.com", ME, "x"),
            ],
            desired: vec![a("y.other.example.com", &["1.1.1.1"], "y")],
            settings: with(|s| {
                s.domains =
                    DomainFilter::new(&[], &["other.example.com".to_string()], None, None).unwrap()
            }),
            ops: &[],
            notices: &[],
            owned: 0,
        },
        Case {
            name: "an invalid candidate freezes the current set",
            current: vec![
                rec("r1", app, RecordType::A, "1.1.1.1"),
                txt("t1", "a-app.example.com", ME, "web"),
            ],
            desired: vec![bad_a],
            settings: settings(),
            ops: &[],
            notices: &["InvalidRecord"],
            owned: 1,
        },
        Case {
            name: "unmanaged types are left alone",
            current: vec![
                rec("r1", app, RecordType::Mx, "mail.example.com"),
                txt("t1", "mx-app.example.com", ME, "web"),
            ],
            desired: vec![],
            settings: settings(),
            ops: &[],
            notices: &[],
            owned: 0,
        },
    ]
}

#[test]
fn table() {
    for c in cases() {
        let p = plan(&c.desired, &c.current, &zone(), &c.settings);
        assert_eq!(summary(&p), c.ops, "{}", c.name);
        assert_eq!(reasons(&p), c.notices, "{}: {:?}", c.name, p.notices);
        assert_eq!(p.owned, c.owned, "{}", c.name);
        assert!(
            p.groups.windows(2).all(|w| w[0].name < w[1].name),
            "{}",
            c.name
        );
        assert_idempotent(&c.desired, &c.current, &c.settings, c.name);
    }
}

#[test]
fn created_records_carry_properties_and_the_txt_copies_them() {
    let mut e = a("app.example.com", &["1.1.1.1"], "web");
    e.props = CfProps {
        proxied: Some(true),
        comment: Some("hello".into()),
        tags: vec!["team:web".into()],
    };
    e.ttl = Some(300);
    let p = plan(&[e], &[], &zone(), &settings());
    let ops = &p.groups[0].ops;
    let Op::Create(r) = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!(
        (r.proxied, r.ttl),
        (true, 1),
        "proxied records get the automatic TTL"
    );
    assert_eq!(r.comment.as_deref(), Some("hello"));
    let Op::Create(t) = &ops[1] else {
        panic!("{ops:?}")
    };
    assert_eq!(t.record_type, RecordType::Txt);
    assert!(!t.proxied);
    assert_eq!(t.comment.as_deref(), Some("hello"));
    assert_eq!(t.tags, ["team:web"]);
    assert_eq!(
        t.content,
        "\"heritage=external-dns,external-dns/owner=me,external-dns/resource=ingress/default/web\""
    );
    assert_eq!(p.groups[0].object, Some(obj("web")));

    let mut mx = ep(
        "app.example.com",
        RecordType::Mx,
        &["10 mail.example.com"],
        "web",
    );
    mx.props.proxied = Some(true);
    let s = with(|s| s.managed_types.push(RecordType::Mx));
    let p = plan(&[mx], &[], &zone(), &s);
    let Op::Create(r) = &p.groups[0].ops[0] else {
        panic!()
    };
    assert_eq!(
        (r.priority, r.content.as_str(), r.proxied),
        (Some(10), "mail.example.com", false)
    );
}

#[test]
fn unproxied_ttl_update_and_put_body() {
    let mut e = a("app.example.com", &["1.1.1.1"], "web");
    e.ttl = Some(120);
    let current = vec![
        rec("r1", "app.example.com", RecordType::A, "1.1.1.1"),
        txt("t1", "a-app.example.com", ME, "web"),
    ];
    let p = plan(&[e], &current, &zone(), &settings());
    let Op::Update { old, new } = &p.groups[0].ops[0] else {
        panic!("{p:?}")
    };
    assert_eq!(old.id, "r1");
    assert_eq!((new.ttl, new.content.as_str()), (120, "1.1.1.1"));
}

#[test]
fn type_switch_is_one_group() {
    let current = vec![
        rec("r1", "app.example.com", RecordType::A, "1.1.1.1"),
        txt("t1", "a-app.example.com", ME, "web"),
        rec("r2", "other.example.com", RecordType::A, "1.1.1.1"),
        txt("t2", "a-other.example.com", ME, "other"),
    ];
    let desired = vec![
        cname("app.example.com", "lb.example.net", "web"),
        a("other.example.com", &["1.1.1.1"], "other"),
    ];
    let p = plan(&desired, &current, &zone(), &settings());
    assert_eq!(p.groups.len(), 1);
    assert_eq!(p.groups[0].name, "app.example.com");
    assert_eq!(p.groups[0].ops.len(), 4);
    assert_eq!(p.groups[0].object, Some(obj("web")));
    // A deletion-only group names no object.
    let p = plan(&desired[1..], &current, &zone(), &settings());
    assert_eq!(p.groups.len(), 1);
    assert_eq!(p.groups[0].object, None);
}

#[test]
fn output_does_not_depend_on_input_order() {
    let mut rng = StdRng::seed_from_u64(7);
    for seed in 0..50 {
        let (current, desired, _) = random_world(&mut StdRng::seed_from_u64(seed));
        let s = settings();
        let p = plan(&desired, &current, &zone(), &s);
        let mut c2 = current.clone();
        let mut d2 = desired.clone();
        shuffle(&mut c2, &mut rng);
        shuffle(&mut d2, &mut rng);
        assert_eq!(plan(&d2, &c2, &zone(), &s), p, "seed {seed}");
        // A desired state in name order (the engine's) takes the planner's merge path: names
        // that have records alone are merged in between.
        d2.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(plan(&d2, &c2, &zone(), &s), p, "seed {seed}, sorted");
        assert!(
            p.groups.windows(2).all(|w| w[0].name < w[1].name),
            "seed {seed}: groups in name order"
        );
        // The streaming planner yields the same groups, notices and count, in the same order,
        // whatever the input order.
        for d in [&desired, &d2] {
            let mut streamed = Planner::new(d.as_slice(), &c2, &zone(), &s);
            let groups: Vec<ChangeGroup> = streamed.by_ref().collect();
            let (notices, owned) = streamed.finish();
            assert_eq!(
                Plan {
                    groups,
                    notices,
                    owned
                },
                p,
                "seed {seed}, streamed"
            );
        }
    }
}

fn shuffle<T>(v: &mut [T], rng: &mut StdRng) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

// ---- Property test -------------------------------------------------------------------------

const NAMES: &[&str] = &[
    "example.com",
    "a.example.com",
    "b.example.com",
    "c.example.com",
    "d.sub.example.com",
    "*.example.com",
];
const V4: &[&str] = &["10.0.0.1", "10.0.0.2", "192.0.2.7"];
const V6: &[&str] = &["2001:db8::1", "2001:db8::2"];
const HOSTS: &[&str] = &["lb.example.net", "lb2.example.net"];

struct World {
    /// Ids of records (and TXTs) that are ours.
    ours: HashSet<String>,
    /// Names holding a managed record (A, AAAA, CNAME) that is not ours.
    foreign_names: HashSet<String>,
    /// (name, type) sets with records of ours.
    ours_sets: HashSet<(String, RecordType)>,
}

fn pick<'x>(rng: &mut StdRng, v: &[&'x str]) -> &'x str {
    v[rng.random_range(0..v.len())]
}

fn targets_for(rng: &mut StdRng, t: &RecordType) -> Vec<String> {
    let pool = match t {
        RecordType::A => V4,
        RecordType::Aaaa => V6,
        _ => HOSTS,
    };
    let n = if *t == RecordType::Cname {
        1
    } else {
        rng.random_range(1..=2)
    };
    let mut v: Vec<String> = (0..n).map(|_| pick(rng, pool).to_string()).collect();
    v.sort();
    v.dedup();
    v
}

fn random_type(rng: &mut StdRng) -> RecordType {
    [RecordType::A, RecordType::Aaaa, RecordType::Cname][rng.random_range(0..3)].clone()
}

/// A zone mixing our records with foreign ones, and a random desired state.
fn random_world(rng: &mut StdRng) -> (Vec<DnsRecord>, Vec<Endpoint>, World) {
    random_world_with(rng, &TxtNaming::default())
}

fn random_world_with(
    rng: &mut StdRng,
    naming: &TxtNaming,
) -> (Vec<DnsRecord>, Vec<Endpoint>, World) {
    let mut current = Vec::new();
    let mut world = World {
        ours: HashSet::new(),
        foreign_names: HashSet::new(),
        ours_sets: HashSet::new(),
    };
    let id = std::cell::Cell::new(0);
    let next_id = || {
        id.set(id.get() + 1);
        format!("id{:03}", id.get())
    };
    let old_name = |name: &str| -> Option<String> {
        if naming.prefix.contains("%{")
            || naming.wildcard_replacement.is_empty() && name.starts_with('*')
        {
            return None;
        }
        Some(format!("{}{name}", naming.prefix))
    };
    for name in NAMES {
        // A name holds a CNAME alone, or any mix of other types.
        let t = random_type(rng);
        let records = |t: &RecordType, rng: &mut StdRng, current: &mut Vec<DnsRecord>| {
            let mut ids = Vec::new();
            for target in targets_for(rng, t) {
                let mut r = rec(&next_id(), name, t.clone(), &target);
                r.proxied = t.proxiable() && rng.random_range(0..4) == 0;
                r.ttl = [1, 300][rng.random_range(0..2)];
                if rng.random_range(0..5) == 0 {
                    r.comment = Some("hand-made".into());
                }
                ids.push(r.id.clone());
                current.push(r);
            }
            ids
        };
        match rng.random_range(0..12) {
            0 => {}
            // Ours, new format.
            1 | 2 => {
                let ids = records(&t, rng, &mut current);
                world.ours.extend(ids);
                let tid = next_id();
                current.push(txt(
                    &tid,
                    &naming.txt_name(name, &t, ZONE),
                    ME,
                    pick(rng, &["x", "y"]),
                ));
                world.ours.insert(tid);
            }
            // Ours, old format only (never for AAAA: it would not be ours).
            3 => {
                let t = if t == RecordType::Cname && naming.prefix.is_empty()
                    || t == RecordType::Aaaa
                {
                    // Old format without prefix puts the TXT beside the record: no CNAME there.
                    RecordType::A
                } else {
                    t.clone()
                };
                if let Some(n) = old_name(name) {
                    let ids = records(&t, rng, &mut current);
                    world.ours.extend(ids);
                    let tid = next_id();
                    current.push(txt(&tid, &n, ME, "x"));
                    world.ours.insert(tid);
                }
            }
            // Foreign: no TXT.
            4 => {
                records(&t, rng, &mut current);
                world.foreign_names.insert(name.to_string());
            }
            // Foreign: TXT of another owner (new or old format).
            5 => {
                records(&t, rng, &mut current);
                world.foreign_names.insert(name.to_string());
                let n = match (rng.random_range(0..2), old_name(name)) {
                    (0, Some(n)) if t != RecordType::Aaaa => n,
                    _ => naming.txt_name(name, &t, ZONE),
                };
                current.push(txt(&next_id(), &n, "them", "x"));
            }
            // Foreign: a TXT without heritage where ours would be.
            6 => {
                records(&t, rng, &mut current);
                world.foreign_names.insert(name.to_string());
                let n = naming.txt_name(name, &t, ZONE);
                current.push(rec(
                    &next_id(),
                    &n,
                    RecordType::Txt,
                    "\"google-site-verification=x\"",
                ));
            }
            // Contested: our TXT and another owner's.
            7 => {
                records(&t, rng, &mut current);
                world.foreign_names.insert(name.to_string());
                let n = naming.txt_name(name, &t, ZONE);
                current.push(txt(&next_id(), &n, ME, "x"));
                current.push(txt(&next_id(), &n, "them", "x"));
            }
            // An unmanaged record of someone else.
            8 => {
                let mut r = rec(&next_id(), name, RecordType::Mx, "mail.example.com");
                r.priority = Some(10);
                current.push(r);
            }
            // Orphan TXT of another owner, or of ours.
            9 => {
                current.push(txt(
                    &next_id(),
                    &naming.txt_name(name, &t, ZONE),
                    "them",
                    "x",
                ));
            }
            10 => {
                let tid = next_id();
                current.push(txt(&tid, &naming.txt_name(name, &t, ZONE), ME, "y"));
                world.ours.insert(tid);
            }
            // Ours AAAA beside a foreign A.
            _ => {
                let ids = records(&RecordType::Aaaa, rng, &mut current);
                world.ours.extend(ids);
                let tid = next_id();
                current.push(txt(
                    &tid,
                    &naming.txt_name(name, &RecordType::Aaaa, ZONE),
                    ME,
                    "x",
                ));
                world.ours.insert(tid);
                records(&RecordType::A, rng, &mut current);
                world.foreign_names.insert(name.to_string());
            }
        }
    }
    for r in current
        .iter()
        .filter(|r| r.record_type != RecordType::Txt && world.ours.contains(&r.id))
    {
        world
            .ours_sets
            .insert((r.name.clone(), r.record_type.clone()));
    }
    let mut desired = Vec::new();
    for name in NAMES {
        for _ in 0..rng.random_range(0..=2) {
            let t = random_type(rng);
            let targets = targets_for(rng, &t);
            let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
            let mut e = ep(name, t, &refs, pick(rng, &["x", "y", "z"]));
            if rng.random_range(0..3) == 0 {
                e.props.proxied = Some(rng.random_range(0..2) == 0);
            }
            if rng.random_range(0..3) == 0 {
                e.ttl = Some(300);
            }
            if rng.random_range(0..4) == 0 {
                e.props.comment = Some("from k8s".into());
            }
            desired.push(e);
        }
    }
    (current, desired, world)
}

/// The safety property: every update and delete hits a record of ours, and no record is created
/// at a name holding a managed record that is not ours, unless it adds a target to a record set
/// of ours (an update, which external-dns allows whatever else is at the name).
fn violations(p: &Plan, w: &World) -> Vec<String> {
    let mut out = Vec::new();
    for g in &p.groups {
        for op in &g.ops {
            match op {
                Op::Update { old: r, .. } | Op::Delete(r) if !w.ours.contains(&r.id) => {
                    out.push(format!("{op:?} touches a record that is not ours"));
                }
                Op::Create(i)
                    if i.record_type != RecordType::Txt
                        && w.foreign_names.contains(&i.name)
                        && !w
                            .ours_sets
                            .contains(&(i.name.clone(), i.record_type.clone())) =>
                {
                    out.push(format!("{op:?} lands on a name with a foreign record"));
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn property_never_touches_what_is_not_ours() {
    let namings = [
        TxtNaming::default(),
        TxtNaming::new("k8s.", "", ""),
        TxtNaming::new("k8s-%{record_type}.", "", ""),
        TxtNaming::new("", "-own", "wild"),
    ];
    let policies = [Policy::Sync, Policy::UpsertOnly, Policy::CreateOnly];
    let (mut ops, mut refusals, mut updates_deletes) = (0, 0, 0);
    for seed in 0..600u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let naming = namings[(seed % 4) as usize].clone();
        let (current, desired, world) = random_world_with(&mut rng, &naming);
        let s = with(|s| {
            s.txt = naming.clone();
            s.policy = policies[rng.random_range(0..3)];
            s.allow_deletes = rng.random_range(0..4) != 0;
            s.default_proxied = rng.random_range(0..2) == 0;
        });
        let p = plan(&desired, &current, &zone(), &s);
        let bad = violations(&p, &world);
        assert!(
            bad.is_empty(),
            "seed {seed}: {bad:#?}\ncurrent {current:#?}\ndesired {desired:#?}"
        );
        ops += p.op_count();
        updates_deletes += p
            .groups
            .iter()
            .flat_map(|g| &g.ops)
            .filter(|o| !matches!(o, Op::Create(_)))
            .count();
        refusals += p
            .notices
            .iter()
            .filter(|n| {
                matches!(
                    n.reason.as_str(),
                    "NotOwned" | "OwnedByOther" | "NameOccupied"
                )
            })
            .count();
        // Idempotent, and what Cloudflare would accept (apply_to checks it).
        let after = apply_to(&current, &p);
        let again = plan(&desired, &after, &zone(), &s);
        assert!(
            again.is_empty(),
            "seed {seed}: not idempotent: {:?}\nfirst {:?} {:?}\ncurrent {current:?}\ndesired {desired:?}",
            summary(&again),
            summary(&p),
            p.notices
        );
    }
    // The generator must exercise the property, or the test proves nothing.
    assert!(
        ops > 1000 && updates_deletes > 200 && refusals > 200,
        "{ops} {updates_deletes} {refusals}"
    );
}

#[test]
fn the_property_check_can_fail() {
    let (current, _, world) = (0..)
        .map(|seed| random_world(&mut StdRng::seed_from_u64(seed)))
        .find(|(_, _, w)| !w.foreign_names.is_empty())
        .expect("a world with foreign records");
    let foreign = current
        .iter()
        .find(|r| !world.ours.contains(&r.id))
        .expect("a foreign record");
    let bad = Plan {
        groups: vec![ChangeGroup {
            name: foreign.name.clone(),
            object: None,
            ops: vec![Op::Delete(foreign.clone())],
        }],
        ..Plan::default()
    };
    assert_eq!(violations(&bad, &world).len(), 1);
    let name = world.foreign_names.iter().next().expect("a foreign name");
    let create = Plan {
        groups: vec![ChangeGroup {
            name: name.clone(),
            object: None,
            ops: vec![Op::Create(DnsRecordInput {
                name: name.clone(),
                record_type: RecordType::A,
                content: "10.0.0.1".into(),
                ttl: 1,
                proxied: false,
                comment: None,
                tags: vec![],
                priority: None,
            })],
        }],
        ..Plan::default()
    };
    assert_eq!(violations(&create, &world).len(), 1);
}

#[test]
fn large_plan_is_linear() {
    // A smoke test of the data structures; the real figure is in benches/plan.rs.
    let n = 20_000;
    let mut desired = Vec::with_capacity(n);
    let mut current = Vec::with_capacity(2 * n);
    for i in 0..n {
        let name = format!("h{i}.example.com");
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        desired.push(a(&name, &[&ip], &format!("o{i}")));
        current.push(rec(&format!("r{i}"), &name, RecordType::A, &ip));
        current.push(txt(
            &format!("t{i}"),
            &format!("a-{name}"),
            ME,
            &format!("o{i}"),
        ));
    }
    let p = plan(&desired, &current, &zone(), &settings());
    assert!(p.is_empty());
    assert_eq!(p.owned, n);
}
