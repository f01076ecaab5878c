//! The call log and per-route counters that tests assert on (`GET /__emulator/calls`,
//! `GET /__emulator/counters`).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Oldest calls are forgotten past this many, so a long-running emulator stays bounded.
const MAX_CALLS: usize = 100_000;

/// One API call as the emulator saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Arrival order, from 1.
    pub seq: u64,
    /// Milliseconds since the emulator started (monotonic), at arrival.
    pub at_ms: u64,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Raw query string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Route template, e.g. `/client/v4/zones/{zone_id}/dns_records`.
    pub route: String,
    /// HTTP status; absent when the connection was dropped.
    #[serde(default)]
    pub status: Option<u16>,
    /// First 8 hex of a hash of the credential, never the credential.
    #[serde(default)]
    pub token_fingerprint: Option<String>,
    /// The injected fault, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// Calls counted by method, route template and status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterEntry {
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
    /// Status; absent for dropped connections.
    pub status: Option<u16>,
    /// Number of calls.
    pub count: u64,
}

/// Log plus counters.
#[derive(Debug, Default)]
pub struct Journal {
    next_seq: u64,
    calls: VecDeque<CallRecord>,
    counters: BTreeMap<(String, String, Option<u16>), u64>,
}

impl Journal {
    /// Reserves the next sequence number (at arrival, so order is arrival order).
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Records a finished call.
    pub fn record(&mut self, call: CallRecord) {
        *self
            .counters
            .entry((call.method.clone(), call.route.clone(), call.status))
            .or_default() += 1;
        if self.calls.len() == MAX_CALLS {
            self.calls.pop_front();
        }
        // Calls finish out of order (latency faults); keep the log sorted by arrival.
        let at = self.calls.partition_point(|c| c.seq < call.seq);
        self.calls.insert(at, call);
    }

    /// The log, by arrival.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.calls.iter().cloned().collect()
    }

    /// The counters.
    pub fn counters(&self) -> Vec<CounterEntry> {
        self.counters
            .iter()
            .map(|((method, route, status), count)| CounterEntry {
                method: method.clone(),
                route: route.clone(),
                status: *status,
                count: *count,
            })
            .collect()
    }

    /// Forgets calls and counters (sequence numbers keep growing).
    pub fn reset(&mut self) -> usize {
        let n = self.calls.len();
        self.calls.clear();
        self.counters.clear();
        n
    }
}
