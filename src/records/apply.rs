//! The record writer: change groups into batch transactions, refused records isolated and
//! reported, and the zone cache kept in step with what Cloudflare answered.

use std::collections::{BTreeMap, VecDeque};

use crate::cloudflare::types::{BatchRequest, BatchResult, BatchUpdate, DnsRecord, RecordId};
use crate::cloudflare::{Client, CloudflareError};
use crate::model::ObjectRef;

use super::plan::{ChangeGroup, Op};

/// Errors of the writer.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Cloudflare could not be reached or asked us to wait; what was applied before is kept
    /// and the zone must be re-read, because the failed batch may or may not have run.
    #[error("zone {zone}: {error}")]
    Cloudflare {
        /// Zone id.
        zone: String,
        /// The call's error.
        error: CloudflareError,
    },
}

/// A group Cloudflare refused, with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The group's name.
    pub name: String,
    /// Its source object, if any.
    pub object: Option<ObjectRef>,
    /// Cloudflare's message (code and text).
    pub message: String,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Groups written.
    pub groups: usize,
    /// Record operations written.
    pub ops: usize,
    /// Batch calls made (including refused ones).
    pub batches: usize,
    /// Groups Cloudflare refused; the rest were applied without them.
    pub rejected: Vec<Rejected>,
}

impl Applied {
    /// Adds another batch's counts.
    pub fn add(&mut self, other: Applied) {
        self.groups += other.groups;
        self.ops += other.ops;
        self.batches += other.batches;
        self.rejected.extend(other.rejected);
    }
}

/// Splits groups into chunks of at most `limit` operations without splitting a group, unless
/// the group alone is larger than the limit.
pub fn chunk(groups: &[ChangeGroup], limit: usize) -> Vec<Vec<usize>> {
    let limit = limit.max(1);
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut size = 0;
    for (i, g) in groups.iter().enumerate() {
        let n = g.ops.len();
        if size + n > limit && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            size = 0;
        }
        cur.push(i);
        size += n;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Which group each batch slot came from, so a refusal naming `posts[3]` finds its group.
#[derive(Default)]
struct Slots {
    deletes: Vec<usize>,
    puts: Vec<usize>,
    posts: Vec<usize>,
}

fn build(groups: &[ChangeGroup], members: &[usize]) -> (BatchRequest, Slots) {
    let mut req = BatchRequest::default();
    let mut slots = Slots::default();
    for &gi in members {
        for op in &groups[gi].ops {
            match op {
                Op::Delete(r) => {
                    req.deletes.push(RecordId { id: r.id.clone() });
                    slots.deletes.push(gi);
                }
                Op::Update { old, new } => {
                    req.puts.push(BatchUpdate {
                        id: old.id.clone(),
                        record: new.clone(),
                    });
                    slots.puts.push(gi);
                }
                Op::Create(new) => {
                    req.posts.push(new.clone());
                    slots.posts.push(gi);
                }
            }
        }
    }
    (req, slots)
}

/// Finds the groups a refusal names (`posts[3]: ...`), if Cloudflare said which.
fn blamed(err: &CloudflareError, slots: &Slots) -> Vec<usize> {
    let CloudflareError::Api { errors, .. } = err else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in errors {
        for (key, list) in [
            ("deletes[", &slots.deletes),
            ("puts[", &slots.puts),
            ("posts[", &slots.posts),
        ] {
            let mut rest = e.message.as_str();
            while let Some(at) = rest.find(key) {
                rest = &rest[at + key.len()..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Some(&gi) = digits.parse::<usize>().ok().and_then(|i| list.get(i)) {
                    out.push(gi);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Applies `groups` to `zone` in batches of at most `limit` operations, updating `cache` (the
/// zone's records) from Cloudflare's answers. A refused batch is narrowed down to the groups at
/// fault, by the index Cloudflare names or else by halving, and the others are applied.
pub async fn apply(
    client: &Client,
    zone: &str,
    groups: &[ChangeGroup],
    limit: usize,
    cache: &mut Vec<DnsRecord>,
) -> Result<Applied, ApplyError> {
    let mut answers = Vec::new();
    let done = write(client, zone, groups, limit, &mut answers).await?;
    fold(cache, answers);
    Ok(done)
}

/// [`apply`] without the cache: Cloudflare's answers are appended to `answers`, for
/// [`fold`] once the writer no longer reads the cache (a plan read batch by batch borrows it).
pub async fn write(
    client: &Client,
    zone: &str,
    groups: &[ChangeGroup],
    limit: usize,
    answers: &mut Vec<BatchResult>,
) -> Result<Applied, ApplyError> {
    let mut done = Applied::default();
    let mut queue: VecDeque<Vec<usize>> = chunk(groups, limit).into();
    while let Some(members) = queue.pop_front() {
        let (req, slots) = build(groups, &members);
        if req.is_empty() {
            continue;
        }
        done.batches += 1;
        match client.batch_dns_records(zone, &req).await {
            Ok(res) => {
                answers.push(res);
                done.groups += members.len();
                done.ops += req.len();
            }
            Err(e) if e.is_transient() || e.status().is_none() => {
                return Err(ApplyError::Cloudflare {
                    zone: zone.to_string(),
                    error: e,
                });
            }
            Err(e) => {
                let named = blamed(&e, &slots);
                if !named.is_empty() {
                    for &gi in &named {
                        done.rejected.push(rejected(&groups[gi], &e));
                    }
                    let rest: Vec<usize> = members
                        .iter()
                        .copied()
                        .filter(|g| !named.contains(g))
                        .collect();
                    if !rest.is_empty() {
                        queue.push_front(rest);
                    }
                } else if members.len() > 1 {
                    let (a, b) = members.split_at(members.len() / 2);
                    queue.push_front(b.to_vec());
                    queue.push_front(a.to_vec());
                } else {
                    done.rejected.push(rejected(&groups[members[0]], &e));
                }
            }
        }
    }
    Ok(done)
}

/// Folds Cloudflare's answers into the cached zone, in the order they came.
pub fn fold(cache: &mut Vec<DnsRecord>, answers: Vec<BatchResult>) {
    // Room for every record created, once, rather than doubling through the cold start.
    cache.reserve_exact(answers.iter().map(|a| a.posts.len()).sum());
    for a in answers {
        update_cache(cache, a);
    }
    // Deletions leave spare capacity that would otherwise stay for good.
    if cache.capacity() > cache.len() + cache.len() / 4 {
        cache.shrink_to_fit();
    }
}

fn rejected(g: &ChangeGroup, e: &CloudflareError) -> Rejected {
    Rejected {
        name: g.name.clone(),
        object: g.object.clone(),
        message: e.to_string(),
    }
}

/// Folds a batch answer into the cached zone: deleted ids out, overwritten records replaced,
/// created records in.
pub fn update_cache(cache: &mut Vec<DnsRecord>, res: BatchResult) {
    let mut changed: BTreeMap<&str, Option<&DnsRecord>> = BTreeMap::new();
    for r in &res.deletes {
        changed.insert(r.id.as_str(), None);
    }
    for r in res.patches.iter().chain(&res.puts) {
        changed.insert(r.id.as_str(), Some(r));
    }
    if !changed.is_empty() {
        cache.retain_mut(|r| match changed.get(r.id.as_str()) {
            None => true,
            Some(None) => false,
            Some(Some(new)) => {
                *r = (*new).clone();
                true
            }
        });
    }
    cache.extend(res.posts);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudflare::types::{ApiMessage, DnsRecordInput, RecordType};

    fn create(name: &str) -> Op {
        Op::Create(DnsRecordInput {
            name: name.into(),
            record_type: RecordType::A,
            content: "192.0.2.1".into(),
            ttl: 1,
            proxied: false,
            comment: None,
            tags: vec![],
            priority: None,
        })
    }

    fn group(name: &str, n: usize) -> ChangeGroup {
        ChangeGroup {
            name: name.into(),
            object: None,
            ops: (0..n).map(|_| create(name)).collect(),
        }
    }

    #[test]
    fn chunks_never_split_a_group_that_fits() {
        let gs = vec![group("a", 2), group("b", 2), group("c", 1), group("d", 5)];
        assert_eq!(chunk(&gs, 4), vec![vec![0, 1], vec![2], vec![3]]);
        assert_eq!(chunk(&gs, 200), vec![vec![0, 1, 2, 3]]);
    }

    #[test]
    fn refusal_index_maps_to_its_group() {
        let gs = vec![group("a", 2), group("b", 2)];
        let (_, slots) = build(&gs, &[0, 1]);
        let err = CloudflareError::Api {
            endpoint: "dns_records.batch",
            status: 400,
            errors: vec![ApiMessage {
                code: 9003,
                message: "posts[3]: content is a private address".into(),
            }],
        };
        assert_eq!(blamed(&err, &slots), vec![1]);
    }
}
