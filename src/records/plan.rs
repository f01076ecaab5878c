//! The record planner: desired endpoints against one zone's current records under TXT
//! ownership, to grouped record operations. Pure: no I/O, deterministic, idempotent.
//!
//! It follows external-dns's `plan` package (rows per name, per-type conflict resolution,
//! creates only where every record at the name is ours, updates and deletes only of our
//! record sets), at the level of single Cloudflare records as its Cloudflare provider maps them:
//! one record per target, removed targets deleted, added targets created, kept targets
//! overwritten only when something really differs.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::cloudflare::types::{DnsRecord, DnsRecordInput, RecordType};
use crate::model::{Notice, ObjectRef, Severity};

use super::endpoint::{Endpoint, canonical_target, target_cmp};
use super::registry::{
    FastMap, NameTxts, Owner, Ownership, TxtNaming, is_ownership_txt, serialize,
};
use super::zone::{DomainFilter, ZoneRef, within};

#[cfg(test)]
mod tests;

/// What the planner may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Create, update and delete.
    #[default]
    Sync,
    /// Create and update, never delete.
    UpsertOnly,
    /// Create only.
    CreateOnly,
}

/// Planner settings.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    /// `--txt-owner-id`: records whose ownership TXT names this owner are ours.
    pub owner_id: String,
    /// Policy.
    pub policy: Policy,
    /// Ownership TXT naming (`--txt-prefix`, `--txt-suffix`, `--txt-wildcard-replacement`).
    pub txt: TxtNaming,
    /// `--managed-record-types`: the types the planner may touch (TXT ownership records aside).
    pub managed_types: Vec<RecordType>,
    /// Domain filters; records outside are invisible to the planner.
    pub domains: DomainFilter,
    /// `--cloudflare-proxied`.
    pub default_proxied: bool,
    /// `--cloudflare-record-comment`.
    pub default_comment: Option<String>,
    /// False until every source has completed its first list: no deletion is planned before.
    pub allow_deletes: bool,
}

/// One record operation, with what the diff printer and the Event need.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Create a record.
    Create(DnsRecordInput),
    /// Overwrite a record (PUT).
    Update {
        /// The record as it is.
        old: DnsRecord,
        /// The record as it will be.
        new: DnsRecordInput,
    },
    /// Delete a record.
    Delete(DnsRecord),
}

/// The operations for one name (its records and their ownership TXTs), applied in the same
/// batch so a type switch or a record and its TXT never land apart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeGroup {
    /// The endpoint name the group is about.
    pub name: String,
    /// The object that asked for it (for Events); `None` for deletions of records whose object is
    /// gone.
    pub object: Option<ObjectRef>,
    /// Operations; order within the group does not matter (Cloudflare runs a batch as deletes,
    /// patches, puts, posts).
    pub ops: Vec<Op>,
}

/// A plan for one zone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Groups sorted by name.
    pub groups: Vec<ChangeGroup>,
    /// Conflicts, ownership refusals and invalid records, for Events.
    pub notices: Vec<Notice>,
    /// Record sets (name, type) we own after the plan is applied.
    pub owned: usize,
}

impl Plan {
    /// True when nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Number of record operations.
    pub fn op_count(&self) -> usize {
        self.groups.iter().map(|g| g.ops.len()).sum()
    }
}

/// Plans `desired` (already limited to this zone) against `current` (every record of the zone).
///
/// Ownership TXTs are read from all of `current`, whatever the filters; records outside the
/// domain filter or of unmanaged types are otherwise invisible, except that records of any kind
/// at a name still block a CNAME there (Cloudflare refuses it).
pub fn plan<E: Borrow<Endpoint>>(
    desired: &[E],
    current: &[DnsRecord],
    zone: &ZoneRef,
    s: &PlanSettings,
) -> Plan {
    // Rows in first-seen order, which reads `desired` and `current` mostly sequentially; the
    // groups and notices are then put in name order, the order `Planner::new` yields them in.
    let mut planner = Planner::build(desired, current, zone, s, false);
    let mut groups: Vec<ChangeGroup> = planner.by_ref().collect();
    groups.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let (notices, owned) = planner.finish();
    Plan {
        groups,
        notices,
        owned,
    }
}

/// [`plan`] one name at a time: an iterator over the change groups, in name order, so that a
/// writer can apply them batch by batch without holding the whole plan (a cold start plans
/// every name of the zone). [`Planner::finish`] gives the notices and the owned count.
pub struct Planner<'a, E> {
    desired: &'a [E],
    current: &'a [DnsRecord],
    s: &'a PlanSettings,
    own: Ownership<'a>,
    zone_name: String,
    /// One row per name: `heads[..split]` and `heads[split..]` each sorted by name.
    heads: Vec<Head<'a>>,
    cand_next: Vec<u32>,
    rec_next: Vec<u32>,
    /// Next row of the first run, and of the second.
    next: usize,
    split: usize,
    tail: usize,
    ordered: bool,
    /// With the row each came from.
    notices: Vec<(u32, Notice)>,
    owned: usize,
    cands: Vec<&'a Endpoint>,
    recs: Vec<&'a DnsRecord>,
    others: Vec<&'a DnsRecord>,
}

impl<'a, E: Borrow<Endpoint>> Planner<'a, E> {
    /// Indexes `desired` and `current` by name; planning happens as the iterator is read, one
    /// name at a time in name order.
    pub fn new(
        desired: &'a [E],
        current: &'a [DnsRecord],
        zone: &ZoneRef,
        s: &'a PlanSettings,
    ) -> Self {
        Self::build(desired, current, zone, s, true)
    }

    /// With `ordered` false the rows are read in first-seen order.
    fn build(
        desired: &'a [E],
        current: &'a [DnsRecord],
        zone: &ZoneRef,
        s: &'a PlanSettings,
        ordered: bool,
    ) -> Self {
        let zone_name = zone.name.trim_end_matches('.').to_ascii_lowercase();
        let own = Ownership::new(current, &s.txt, &zone_name);
        let managed = |t: &RecordType| s.managed_types.contains(t);

        // One row per name. Endpoints and records are chained by index through `cand_next`
        // and `rec_next`, so building rows allocates nothing per name.
        let mut index: FastMap<Cow<'a, str>, u32> =
            FastMap::with_capacity_and_hasher(desired.len() + 16, Default::default());
        let mut heads: Vec<Head<'a>> = Vec::with_capacity(desired.len() + 16);
        let mut cand_next = vec![NONE; desired.len()];
        for (i, ep) in desired.iter().map(Borrow::borrow).enumerate() {
            if !managed(&ep.record_type) || !s.domains.matches(&ep.name) {
                continue;
            }
            let key = name_key(&ep.name);
            if zone_name.is_empty() || within(&key, &zone_name) {
                let h = row_for(&mut index, &mut heads, key);
                cand_next[i] = heads[h].cand;
                heads[h].cand = i as u32;
            }
        }
        // Rows of desired names; a desired state in name order gives them in name order.
        let from_desired = heads.len();
        let mut rec_next = vec![NONE; current.len()];
        let mut unmanaged = Vec::new();
        for (i, r) in current.iter().enumerate() {
            // Ownership TXTs are the registry's, never planned as records.
            let is_managed = managed(&r.record_type)
                && !(r.record_type == RecordType::Txt && is_ownership_txt(r))
                && s.domains.matches(&r.name);
            if is_managed {
                let h = row_for(&mut index, &mut heads, name_key(&r.name));
                rec_next[i] = heads[h].cur;
                heads[h].cur = i as u32;
            } else {
                unmanaged.push(i as u32);
            }
        }
        // The rest only matters where a row exists: it can block a CNAME, or keep an old-format
        // TXT alive.
        for i in unmanaged {
            if let Some(&h) = index.get(name_key(&current[i as usize].name).as_ref()) {
                rec_next[i as usize] = heads[h as usize].other;
                heads[h as usize].other = i;
            }
        }
        drop(index);
        // Name order, without sorting every row when the desired state is sorted (the engine's
        // always is): then only the names that have records alone are sorted, and the
        // iterator merges the two runs. Names are unique, so an unstable sort is exact.
        let split = if !ordered {
            heads.len()
        } else if heads[..from_desired]
            .windows(2)
            .all(|w| w[0].name < w[1].name)
        {
            heads[from_desired..].sort_unstable_by(|a, b| a.name.cmp(&b.name));
            from_desired
        } else {
            heads.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            heads.len()
        };
        Self {
            desired,
            current,
            s,
            own,
            zone_name,
            heads,
            cand_next,
            rec_next,
            next: 0,
            split,
            tail: split,
            ordered,
            notices: Vec::new(),
            owned: 0,
            cands: Vec::new(),
            recs: Vec::new(),
            others: Vec::new(),
        }
    }

    /// The notices (in name order) and the record sets owned after the plan, once every group
    /// has been read; rows not yet read are planned first.
    pub fn finish(mut self) -> (Vec<Notice>, usize) {
        for _ in self.by_ref() {}
        if !self.ordered {
            // Stable: a row's notices keep the order they were found in.
            let heads = &self.heads;
            self.notices
                .sort_by(|a, b| heads[a.0 as usize].name.cmp(&heads[b.0 as usize].name));
        }
        (
            self.notices.into_iter().map(|(_, n)| n).collect(),
            self.owned,
        )
    }
}

impl<'a, E: Borrow<Endpoint>> Iterator for Planner<'a, E> {
    type Item = ChangeGroup;

    fn next(&mut self) -> Option<ChangeGroup> {
        loop {
            let first = (self.next < self.split).then_some(self.next);
            let second = (self.tail < self.heads.len()).then_some(self.tail);
            let i = match (first, second) {
                (Some(a), Some(b)) if self.heads[b].name < self.heads[a].name => {
                    self.tail += 1;
                    b
                }
                (Some(a), _) => {
                    self.next += 1;
                    a
                }
                (None, Some(b)) => {
                    self.tail += 1;
                    b
                }
                (None, None) => return None,
            };
            let head = &self.heads[i];
            let name = head.name.as_ref();
            let (desired, current) = (self.desired, self.current);
            self.cands.clear();
            self.cands
                .extend(chain(head.cand, &self.cand_next).map(|i| desired[i].borrow()));
            self.recs.clear();
            self.recs
                .extend(chain(head.cur, &self.rec_next).map(|i| &current[i]));
            self.others.clear();
            self.others
                .extend(chain(head.other, &self.rec_next).map(|i| &current[i]));
            let mut ctx = Ctx {
                s: self.s,
                own: &self.own,
                zone: &self.zone_name,
                notices: Vec::new(),
                owned: 0,
            };
            let group = ctx.row(name, &mut self.cands, &mut self.recs, &mut self.others);
            self.owned += ctx.owned;
            self.notices
                .extend(ctx.notices.drain(..).map(|n| (i as u32, n)));
            if group.is_some() {
                return group;
            }
        }
    }
}

/// End of an index chain.
const NONE: u32 = u32::MAX;

/// The row of `key`, added when new.
fn row_for<'k>(
    index: &mut FastMap<Cow<'k, str>, u32>,
    heads: &mut Vec<Head<'k>>,
    key: Cow<'k, str>,
) -> usize {
    *index.entry(key).or_insert_with_key(|key| {
        heads.push(Head {
            name: key.clone(),
            cand: NONE,
            cur: NONE,
            other: NONE,
        });
        (heads.len() - 1) as u32
    }) as usize
}

/// The indices of a chain starting at `first`.
fn chain(first: u32, next: &[u32]) -> impl Iterator<Item = usize> + '_ {
    std::iter::successors((first != NONE).then_some(first), move |i| {
        let n = next[*i as usize];
        (n != NONE).then_some(n)
    })
    .map(|i| i as usize)
}

/// A name with its first desired endpoint, current managed record and other current record.
struct Head<'k> {
    name: Cow<'k, str>,
    cand: u32,
    cur: u32,
    other: u32,
}

/// One (name, type) of a row.
struct Set<'r, 'a> {
    t: RecordType,
    cur: &'r [&'a DnsRecord],
    cands: &'r [&'a Endpoint],
    owner: Owner<'r>,
    /// Only invalid candidates: the current set is left alone.
    frozen: bool,
    /// Deleted by this plan.
    deleted: bool,
}

/// What a record should look like, after defaults.
struct Want<'e> {
    proxied: bool,
    /// TTL sent: the configured one, 1 (automatic) when unset or proxied.
    ttl: u32,
    /// TTL compared: only a configured TTL on an unproxied record causes an update.
    ttl_check: Option<u32>,
    comment: Option<&'e str>,
    tags: Cow<'e, [String]>,
}

impl<'e> Want<'e> {
    fn of(ep: &'e Endpoint, s: &'e PlanSettings) -> Self {
        let proxied = ep.record_type.proxiable() && ep.props.proxied.unwrap_or(s.default_proxied);
        let configured = ep.ttl.filter(|t| *t > 0);
        let ttl_check = if proxied { None } else { configured };
        let comment = ep
            .props
            .comment
            .as_deref()
            .or(s.default_comment.as_deref())
            .filter(|c| !c.is_empty());
        let tags = if ep.props.tags.is_sorted() {
            Cow::Borrowed(ep.props.tags.as_slice())
        } else {
            let mut t = ep.props.tags.clone();
            t.sort();
            t.dedup();
            Cow::Owned(t)
        };
        Self {
            proxied,
            ttl: ttl_check.unwrap_or(1),
            ttl_check,
            comment,
            tags,
        }
    }

    /// Whether `r` must be overwritten to match.
    fn differs(&self, r: &DnsRecord) -> bool {
        r.proxied != self.proxied
            || self.ttl_check.is_some_and(|t| r.ttl != t)
            || r.comment.as_deref().filter(|c| !c.is_empty()) != self.comment
            || !same_tags(&r.tags, &self.tags)
    }

    fn input(
        &self,
        name: &str,
        t: &RecordType,
        content: String,
        priority: Option<u16>,
    ) -> DnsRecordInput {
        DnsRecordInput {
            name: name.to_string(),
            record_type: t.clone(),
            content,
            ttl: self.ttl,
            proxied: self.proxied && t.proxiable(),
            comment: self.comment.map(str::to_string),
            tags: self.tags.to_vec(),
            priority,
        }
    }
}

struct Ctx<'p, 'a> {
    s: &'p PlanSettings,
    own: &'p Ownership<'a>,
    zone: &'p str,
    /// Notices of the row being planned.
    notices: Vec<Notice>,
    owned: usize,
}

impl<'p, 'a> Ctx<'p, 'a> {
    fn notice(&mut self, ep: &Endpoint, reason: &str, message: String) {
        self.notices.push(Notice {
            object: ep.object(),
            severity: Severity::Warning,
            reason: reason.to_string(),
            message,
        });
    }

    fn row(
        &mut self,
        name: &str,
        cands: &mut Vec<&'a Endpoint>,
        current: &mut [&'a DnsRecord],
        others: &mut [&'a DnsRecord],
    ) -> Option<ChangeGroup> {
        if current.len() > 1 {
            current.sort_by(|a, b| {
                (&a.record_type, &a.content, &a.id).cmp(&(&b.record_type, &b.content, &b.id))
            });
        }
        if others.len() > 1 {
            others.sort_by(|a, b| (&a.record_type, &a.id).cmp(&(&b.record_type, &b.id)));
        }
        let frozen = self.resolve_candidates(name, cands);
        let txts = self.own.at(name);
        let owner_id = self.s.owner_id.as_str();

        // Pair current records and candidates by type.
        let mut sets: Vec<Set<'_, 'a>> = Vec::with_capacity(1);
        let (mut i, mut j) = (0, 0);
        while i < current.len() || j < cands.len() {
            let t = match (current.get(i), cands.get(j)) {
                (Some(c), Some(e)) => (&c.record_type).min(&e.record_type).clone(),
                (Some(c), None) => c.record_type.clone(),
                (None, Some(e)) => e.record_type.clone(),
                (None, None) => break,
            };
            let (ci, cj) = (i, j);
            while i < current.len() && current[i].record_type == t {
                i += 1;
            }
            while j < cands.len() && cands[j].record_type == t {
                j += 1;
            }
            sets.push(Set {
                owner: txts.owner(&t, owner_id),
                frozen: frozen.contains(&t),
                t,
                cur: &current[ci..i],
                cands: &cands[cj..j],
                deleted: false,
            });
        }

        let s = self.s;
        let deletes_ok = s.allow_deletes && s.policy == Policy::Sync;
        let updates_ok = s.policy != Policy::CreateOnly;
        let all_ours = sets
            .iter()
            .all(|x| x.cur.is_empty() || x.owner == Owner::Ours);
        let mut ops = Vec::new();
        let mut object: Option<&Endpoint> = None;
        let mut deferred = Vec::new();

        for (k, set) in sets.iter_mut().enumerate() {
            let winner = self.winner(name, txts, set);
            match (set.cur.is_empty(), winner) {
                (true, None) => {}
                (true, Some(w)) => deferred.push((k, w)),
                (false, None) => {
                    if set.owner != Owner::Ours {
                        continue;
                    }
                    if deletes_ok && !set.frozen {
                        delete_set(txts, owner_id, set, &mut ops);
                        set.deleted = true;
                    } else {
                        self.owned += 1;
                    }
                }
                (false, Some(w)) => {
                    if set.owner != Owner::Ours {
                        let msg = format!(
                            "{name}: the {} record set {}, so cfgeo leaves it alone",
                            set.t,
                            describe(&set.owner)
                        );
                        self.notice(w, refusal(&set.owner), msg);
                        continue;
                    }
                    self.owned += 1;
                    if updates_ok {
                        let before = ops.len();
                        self.update_set(name, txts, set, w, &mut ops);
                        if ops.len() > before && object.is_none() {
                            object = Some(w);
                        }
                    }
                }
            }
        }

        // Decided before the creates: a CNAME may take the place of an old-format TXT that goes.
        let old_txts = if sets.iter().any(|x| x.deleted) {
            old_txts_to_delete(txts, owner_id, &sets, others)
        } else {
            Vec::new()
        };
        for (k, w) in deferred {
            let t = sets[k].t.clone();
            if !all_ours {
                let other = sets
                    .iter()
                    .find(|x| !x.cur.is_empty() && x.owner != Owner::Ours)
                    .expect("a set that is not ours");
                let msg = format!(
                    "{name}: not creating {t}: the {} record set at this name {}",
                    other.t,
                    describe(&other.owner)
                );
                self.notice(w, refusal(&other.owner), msg);
                continue;
            }
            if let Owner::Other(o) = sets[k].owner {
                let msg = format!(
                    "{name}: not creating {t}: its ownership TXT names owner {o:?}, not {owner_id:?}"
                );
                self.notice(w, "OwnedByOther", msg);
                continue;
            }
            let staying = others
                .iter()
                .copied()
                .filter(|r| !old_txts.iter().any(|o| o.id == r.id));
            if let Some((reason, msg)) = self.blocked(name, &t, &sets, staying, deletes_ok) {
                self.notice(w, reason, msg);
                continue;
            }
            self.create_set(name, txts, &t, w, &mut ops);
            self.owned += 1;
            if object.is_none() {
                object = Some(w);
            }
        }
        ops.extend(old_txts.into_iter().map(|r| Op::Delete(r.clone())));

        if ops.is_empty() {
            return None;
        }
        // A cold start plans every name at once: no spare capacity per group.
        ops.shrink_to_fit();
        Some(ChangeGroup {
            name: name.to_string(),
            object: object.map(Endpoint::object),
            ops,
        })
    }

    /// Sorts candidates by type then external-dns's create order, and drops invalid ones and
    /// CNAMEs that clash with other types. Returns the types left with only invalid candidates.
    fn resolve_candidates(&mut self, name: &str, cands: &mut Vec<&'a Endpoint>) -> Vec<RecordType> {
        if cands.len() > 1 {
            cands.sort_by(|a, b| {
                a.record_type
                    .cmp(&b.record_type)
                    .then_with(|| create_order(a, b))
                    .then_with(|| a.resource.cmp(&b.resource))
                    .then_with(|| (a.kind, &a.uid).cmp(&(b.kind, &b.uid)))
                    // Total order, so the winner never depends on the input order.
                    .then_with(|| a.targets.cmp(&b.targets))
                    .then_with(|| a.ttl.cmp(&b.ttl))
                    .then_with(|| {
                        (a.props.proxied, &a.props.comment, &a.props.tags).cmp(&(
                            b.props.proxied,
                            &b.props.comment,
                            &b.props.tags,
                        ))
                    })
            });
        }
        let mut invalid_types = Vec::new();
        cands.retain(|ep| match invalid(ep) {
            Some(why) => {
                self.notices.push(Notice {
                    object: ep.object(),
                    severity: Severity::Warning,
                    reason: "InvalidRecord".into(),
                    message: format!("{name} ({}): {why}", ep.record_type),
                });
                invalid_types.push(ep.record_type.clone());
                false
            }
            None => true,
        });
        let is_cname = |e: &&Endpoint| e.record_type == RecordType::Cname;
        if cands.iter().any(is_cname) && !cands.iter().all(is_cname) {
            let other = cands
                .iter()
                .filter(|e| !is_cname(e))
                .min_by(|a, b| {
                    (&a.record_type, a.object_key()).cmp(&(&b.record_type, b.object_key()))
                })
                .expect("a non-CNAME candidate");
            let msg = format!(
                "{name}: CNAME discarded because {} also asks for a {} record at this name",
                other.object(),
                other.record_type
            );
            for e in cands.iter().filter(|e| is_cname(e)) {
                self.notice(e, "RecordTypeConflict", msg.clone());
            }
            cands.retain(|e| !is_cname(e));
        }
        invalid_types.sort();
        invalid_types.dedup();
        invalid_types.retain(|t| !cands.iter().any(|e| e.record_type == *t));
        invalid_types
    }

    /// The candidate that gets the set (external-dns's ResolveUpdate / ResolveCreate); the
    /// others get a notice.
    fn winner(
        &mut self,
        name: &str,
        txts: NameTxts<'p, 'a>,
        set: &Set<'_, 'a>,
    ) -> Option<&'a Endpoint> {
        let first = *set.cands.first()?;
        if set.cands.len() == 1 {
            return Some(first);
        }
        let keep = if !set.cur.is_empty() && set.owner == Owner::Ours {
            txts.of(&set.t).map(|x| x.resource.as_ref())
        } else {
            None
        };
        let w = keep
            .and_then(|r| set.cands.iter().copied().find(|e| &*e.resource == r))
            .unwrap_or(first);
        // An exact duplicate of the winner lost nothing: no notice.
        for e in set
            .cands
            .iter()
            .filter(|e| !std::ptr::eq(**e, w) && ***e != *w)
        {
            let why = if keep == Some(&*w.resource) {
                "already owns the record"
            } else {
                "comes first (fewer targets, then lowest target)"
            };
            let msg = format!(
                "{name} ({}) is also claimed by {} ({}), which {why}; this object's targets are not published",
                set.t,
                w.object(),
                w.resource
            );
            self.notice(e, "HostnameConflict", msg);
        }
        Some(w)
    }

    /// Why a create of `t` at `name` would fail at Cloudflare: a CNAME cannot share its name.
    fn blocked<'r>(
        &self,
        name: &str,
        t: &RecordType,
        sets: &[Set<'_, 'a>],
        mut others: impl Iterator<Item = &'r DnsRecord>,
        deletes_ok: bool,
    ) -> Option<(&'static str, String)> {
        let clash = |rt: &RecordType| *t == RecordType::Cname || *rt == RecordType::Cname;
        if let Some(x) = sets
            .iter()
            .find(|x| !x.cur.is_empty() && !x.deleted && x.t != *t && clash(&x.t))
        {
            if x.owner == Owner::Ours && !deletes_ok {
                let by = if self.s.allow_deletes {
                    format!("policy {:?}", self.s.policy)
                } else {
                    "waiting for every source's first listing".to_string()
                };
                let msg = format!(
                    "{name}: switching from {} to {t} needs the {} records deleted, which {by} does not allow",
                    x.t, x.t
                );
                return Some(("TypeSwitchBlocked", msg));
            }
            return Some(("NameOccupied", occupied(name, t, &x.t)));
        }
        others
            .find(|r| clash(&r.record_type))
            .map(|r| ("NameOccupied", occupied(name, t, &r.record_type)))
    }

    fn update_set(
        &self,
        name: &str,
        txts: NameTxts<'p, 'a>,
        set: &Set<'_, 'a>,
        w: &'a Endpoint,
        ops: &mut Vec<Op>,
    ) {
        let want = Want::of(w, self.s);
        let mut changes = Vec::new();
        let kept = |r: &DnsRecord, ops: &mut Vec<Op>| {
            if want.differs(r) {
                ops.push(Op::Update {
                    old: r.clone(),
                    new: want.input(&r.name, &r.record_type, r.content.clone(), r.priority),
                });
            }
        };
        if let ([r], [target]) = (set.cur, w.targets.as_slice()) {
            // The usual case, without sorting or allocating.
            if r.content == *target || record_key(r) == canon(target) {
                kept(r, &mut changes);
            } else {
                let d = canon(target);
                changes.push(Op::Delete((*r).clone()));
                changes.push(Op::Create(target_input(name, &set.t, &d, &want)));
            }
        } else {
            let mut cur: Vec<(Cow<'_, str>, &DnsRecord)> =
                set.cur.iter().map(|r| (record_key(r), *r)).collect();
            cur.sort_by(|a, b| a.0.cmp(&b.0));
            let mut des: Vec<Cow<'_, str>> = w.targets.iter().map(|t| canon(t)).collect();
            des.sort_unstable();
            des.dedup();
            let (mut i, mut j) = (0, 0);
            while i < cur.len() || j < des.len() {
                let ord = match (cur.get(i), des.get(j)) {
                    (Some(c), Some(d)) => c.0.cmp(d),
                    (Some(_), None) => Ordering::Less,
                    _ => Ordering::Greater,
                };
                match ord {
                    Ordering::Less => {
                        changes.push(Op::Delete(cur[i].1.clone()));
                        i += 1;
                    }
                    Ordering::Greater => {
                        changes.push(Op::Create(target_input(name, &set.t, &des[j], &want)));
                        j += 1;
                    }
                    Ordering::Equal => {
                        kept(cur[i].1, &mut changes);
                        i += 1;
                        // Two records with the same content in two spellings: keep one.
                        while i < cur.len() && cur[i].0 == des[j] {
                            changes.push(Op::Delete(cur[i].1.clone()));
                            i += 1;
                        }
                        j += 1;
                    }
                }
            }
        }
        // Removing targets is a deletion: not before every source has listed once (a merged
        // endpoint may still miss another object's targets). A CNAME cannot gain its new target
        // next to the old one either.
        if !self.s.allow_deletes && changes.iter().any(|op| matches!(op, Op::Delete(_))) {
            let cname = set.t == RecordType::Cname;
            changes.retain(|op| match op {
                Op::Delete(_) => false,
                Op::Create(_) => !cname,
                Op::Update { .. } => true,
            });
        }
        ops.append(&mut changes);
        // A new resource label is written; an old-format-only set gains a new-format TXT then.
        let Some(deciding) = txts.of(&set.t) else {
            return;
        };
        if deciding.resource == *w.resource {
            return;
        }
        let owner_id = self.s.owner_id.as_str();
        match txts.typed(&set.t).find(|x| x.owner == owner_id) {
            Some(x) => ops.push(Op::Update {
                old: x.record.clone(),
                new: txt_input(
                    &x.record.name,
                    serialize(owner_id, &w.resource, &x.labels()),
                    &want,
                ),
            }),
            None => ops.push(Op::Create(txt_input(
                &self.s.txt.txt_name(name, &set.t, self.zone),
                serialize(owner_id, &w.resource, &deciding.labels()),
                &want,
            ))),
        }
    }

    fn create_set(
        &self,
        name: &str,
        txts: NameTxts<'p, 'a>,
        t: &RecordType,
        w: &'a Endpoint,
        ops: &mut Vec<Op>,
    ) {
        let want = Want::of(w, self.s);
        let mut des: Vec<Cow<'_, str>> = w.targets.iter().map(|t| canon(t)).collect();
        des.sort_by(|a, b| target_cmp(a, b));
        des.dedup();
        ops.extend(
            des.iter()
                .map(|d| Op::Create(target_input(name, t, d, &want))),
        );
        // A surviving TXT of ours (its record was deleted by hand) is reused, as external-dns
        // does since v0.19.
        let owner_id = self.s.owner_id.as_str();
        let mut typed = txts.typed(t).filter(|x| x.owner == owner_id);
        let first = typed.next();
        if first.is_some_and(|x| x.resource == *w.resource)
            || typed.any(|x| x.resource == *w.resource)
        {
            return;
        }
        match first {
            Some(x) => ops.push(Op::Update {
                old: x.record.clone(),
                new: txt_input(
                    &x.record.name,
                    serialize(owner_id, &w.resource, &x.labels()),
                    &want,
                ),
            }),
            None => {
                let content = serialize(owner_id, &w.resource, &Default::default());
                ops.push(Op::Create(txt_input(
                    &self.s.txt.txt_name(name, t, self.zone),
                    content,
                    &want,
                )));
            }
        }
    }
}

fn delete_set(txts: NameTxts<'_, '_>, owner_id: &str, set: &Set<'_, '_>, ops: &mut Vec<Op>) {
    ops.extend(set.cur.iter().map(|r| Op::Delete((*r).clone())));
    ops.extend(
        txts.typed(&set.t)
            .filter(|x| x.owner == owner_id)
            .map(|x| Op::Delete(x.record.clone())),
    );
}

/// Our old-format TXTs of the name that no record left there falls back on.
fn old_txts_to_delete<'a>(
    txts: NameTxts<'_, 'a>,
    owner_id: &str,
    sets: &[Set<'_, 'a>],
    others: &[&'a DnsRecord],
) -> Vec<&'a DnsRecord> {
    let relies = |t: &RecordType| *t != RecordType::Aaaa && txts.typed(t).next().is_none();
    let kept = sets
        .iter()
        .any(|x| !x.cur.is_empty() && !x.deleted && relies(&x.t));
    let other = others
        .iter()
        .any(|r| !is_ownership_txt(r) && relies(&r.record_type));
    if kept || other {
        return Vec::new();
    }
    txts.old()
        .filter(|x| x.owner == owner_id)
        .map(|x| x.record)
        .collect()
}

fn refusal(owner: &Owner<'_>) -> &'static str {
    match owner {
        Owner::Other(_) => "OwnedByOther",
        _ => "NotOwned",
    }
}

fn describe(owner: &Owner<'_>) -> String {
    match owner {
        Owner::Other(o) => format!("belongs to owner {o:?}"),
        _ => "has no ownership TXT".to_string(),
    }
}

fn occupied(name: &str, t: &RecordType, what: &RecordType) -> String {
    format!(
        "{name}: not creating {t}: a {what} record exists at this name and Cloudflare allows no CNAME next to other records"
    )
}

/// The ownership TXT for a record set: same comment, tags and TTL as its records, never
/// proxied (external-dns copies the provider-specific properties).
fn txt_input(name: &str, content: String, want: &Want<'_>) -> DnsRecordInput {
    let mut input = want.input(name, &RecordType::Txt, content, None);
    input.proxied = false;
    input
}

/// A record for one canonical target; MX and SRV targets carry the priority first.
fn target_input(name: &str, t: &RecordType, target: &str, want: &Want<'_>) -> DnsRecordInput {
    match split_priority(t, target) {
        Some((p, rest)) => want.input(name, t, rest.to_string(), Some(p)),
        None => want.input(name, t, target.to_string(), None),
    }
}

fn split_priority<'t>(t: &RecordType, target: &'t str) -> Option<(u16, &'t str)> {
    if !matches!(t, RecordType::Mx | RecordType::Srv) {
        return None;
    }
    let (p, rest) = target.trim().split_once(' ')?;
    let rest = rest.trim();
    Some((p.parse().ok()?, rest)).filter(|_| !rest.is_empty())
}

/// A current record as a canonical target (MX/SRV with their priority first).
fn record_key(r: &DnsRecord) -> Cow<'_, str> {
    match (&r.record_type, r.priority) {
        (RecordType::Mx | RecordType::Srv, Some(p)) => {
            Cow::Owned(canonical_target(&format!("{p} {}", r.content)))
        }
        _ => canon(&r.content),
    }
}

/// [`canonical_target`], borrowing when the target is canonical already.
fn canon(t: &str) -> Cow<'_, str> {
    // Any IPv4 address that parses is canonical (no leading zeros are accepted).
    let plain_name = || {
        t.parse::<Ipv6Addr>().is_err()
            && !t.ends_with('.')
            && t.trim() == t
            && !t.bytes().any(|b| b.is_ascii_uppercase())
    };
    if t.parse::<Ipv4Addr>().is_ok() || plain_name() {
        Cow::Borrowed(t)
    } else {
        Cow::Owned(canonical_target(t))
    }
}

/// Lower-case name without trailing dot, borrowed when already so.
fn name_key(name: &str) -> Cow<'_, str> {
    let n = name.trim_end_matches('.');
    if n.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(n.to_ascii_lowercase())
    } else {
        Cow::Borrowed(n)
    }
}

/// external-dns's `Targets.IsLess`: fewer targets first, then the first differing target.
fn create_order(a: &Endpoint, b: &Endpoint) -> Ordering {
    a.targets.len().cmp(&b.targets.len()).then_with(|| {
        a.targets
            .iter()
            .zip(&b.targets)
            .map(|(x, y)| target_cmp(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    })
}

fn same_tags(a: &[String], b: &[String]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a == b {
        return true;
    }
    let mut x = a.to_vec();
    let mut y = b.to_vec();
    x.sort();
    y.sort();
    x == y
}

/// Why Cloudflare would refuse the endpoint, if it would.
fn invalid(ep: &Endpoint) -> Option<String> {
    if ep.targets.is_empty() {
        return Some("no targets".into());
    }
    let bad = |ok: &dyn Fn(&str) -> bool, what: &str| {
        ep.targets
            .iter()
            .find(|t| !ok(t))
            .map(|t| format!("target {t:?} is not {what}"))
    };
    match ep.record_type {
        RecordType::A => bad(&|t| t.parse::<Ipv4Addr>().is_ok(), "an IPv4 address"),
        RecordType::Aaaa => bad(&|t| t.parse::<Ipv6Addr>().is_ok(), "an IPv6 address"),
        RecordType::Cname if ep.targets.len() > 1 => Some(format!(
            "a CNAME takes one target, got {}",
            ep.targets.len()
        )),
        RecordType::Cname if canonical_target(&ep.targets[0]) == name_key(&ep.name) => {
            Some("the CNAME points to itself".into())
        }
        RecordType::Mx | RecordType::Srv => bad(
            &|t| split_priority(&ep.record_type, t).is_some(),
            "\"<priority> <value>\"",
        ),
        _ => None,
    }
}
