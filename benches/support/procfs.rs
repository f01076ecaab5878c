//! What /proc says of a child process, for the benchmarks: resident memory and CPU time.

/// Two `kB` fields of `/proc/<pid>/status`.
fn status_kib(pid: u32, a: &str, b: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field(a)?, field(b)?))
}

/// `(VmHWM, VmRSS)` of a process in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    status_kib(pid, "VmHWM:", "VmRSS:")
}

/// `(RssAnon, RssFile)` in KiB: the heap and stacks against the mapped binary and libraries.
#[allow(dead_code)]
pub fn rss_split_kib(pid: u32) -> Option<(u64, u64)> {
    status_kib(pid, "RssAnon:", "RssFile:")
}

/// User plus system CPU seconds of a process (clock ticks of 1/100 s).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}
