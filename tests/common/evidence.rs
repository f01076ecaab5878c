//! One case's evidence for the fault and crash suites: what was injected, which assertions
//! held, figures; one JSON line per case that `scripts/evidence.sh` turns into docs/reliability.md.

use std::io::Write;

use serde_json::{Value, json};

/// `CFGEO_EVIDENCE=quick` (the default, CI) or `full` (more trials and seeds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Quick,
    Full,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Quick => "quick",
            Profile::Full => "full",
        }
    }
}

pub fn profile() -> Profile {
    match std::env::var("CFGEO_EVIDENCE").as_deref() {
        Ok("full") => Profile::Full,
        _ => Profile::Quick,
    }
}

/// `quick` in the CI profile, `full` otherwise.
pub fn by_profile<T>(quick: T, full: T) -> T {
    match profile() {
        Profile::Quick => quick,
        Profile::Full => full,
    }
}

/// One case's results: what was injected, how many trials, which assertions held, figures.
pub struct Evidence {
    pub case: &'static str,
    pub title: &'static str,
    pub injected: Vec<String>,
    pub trials: usize,
    pub held: Vec<String>,
    pub figures: serde_json::Map<String, Value>,
    started: std::time::Instant,
}

impl Evidence {
    pub fn new(case: &'static str, title: &'static str) -> Self {
        Self {
            case,
            title,
            injected: Vec::new(),
            trials: 0,
            held: Vec::new(),
            figures: serde_json::Map::new(),
            started: std::time::Instant::now(),
        }
    }

    pub fn injected(&mut self, what: impl Into<String>) {
        let w = what.into();
        if !self.injected.contains(&w) {
            self.injected.push(w);
        }
    }

    /// Asserts `ok` and records `what` as held.
    pub fn check(&mut self, ok: bool, what: impl Into<String>, detail: impl std::fmt::Display) {
        let what = what.into();
        assert!(ok, "{}: {what} did not hold: {detail}", self.case);
        if !self.held.contains(&what) {
            self.held.push(what);
        }
    }

    pub fn figure(&mut self, key: &str, v: impl Into<Value>) {
        self.figures.insert(key.to_string(), v.into());
    }

    /// Appends the JSON line to `CFGEO_EVIDENCE_OUT`, if set. Called only once every assertion
    /// has passed, so a line in the file means the case held.
    pub fn write(self) {
        // The test binary this module is compiled into: faults, crash or secrets.
        let suite = env!("CARGO_CRATE_NAME");
        let profile = profile().name();
        let line = json!({
            "case": self.case,
            "title": self.title,
            "suite": suite,
            "profile": profile,
            "injected": self.injected,
            "trials": self.trials,
            "held": self.held,
            "figures": self.figures,
            "duration_s": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "command": format!("CFGEO_EVIDENCE={profile} cargo test --test {suite} {}", self.case),
        });
        println!("evidence: {line}");
        if let Ok(path) = std::env::var("CFGEO_EVIDENCE_OUT") {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("CFGEO_EVIDENCE_OUT {path}: {e}"));
            // One write per line: O_APPEND keeps concurrent cases' lines whole.
            f.write_all(format!("{line}\n").as_bytes())
                .expect("evidence line written");
        }
    }
}
