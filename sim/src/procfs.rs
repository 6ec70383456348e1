//! Readings of this process and the loopback interface from /proc (Linux).

/// Bytes sent on the loopback interface so far (all processes; the simulation is the only
/// talker on a quiet machine).
pub fn loopback_tx_bytes() -> Option<u64> {
    loopback_tx_field(8)
}

/// Packets sent on the loopback interface so far (TCP segments, acknowledgements included).
pub fn loopback_tx_packets() -> Option<u64> {
    loopback_tx_field(9)
}

/// A transmit counter of the loopback interface: field 8 is bytes, 9 packets.
fn loopback_tx_field(field: usize) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/dev").ok()?;
    let line = text.lines().find(|l| l.trim_start().starts_with("lo:"))?;
    let fields: Vec<&str> = line.split(':').nth(1)?.split_whitespace().collect();
    fields.get(field)?.parse().ok()
}

/// Seconds since boot (/proc/uptime, 10 ms steps): the clock `perf record -k boottime` stamps
/// samples with, so a profile can be cut to a phase the simulation names.
pub fn uptime_seconds() -> Option<f64> {
    std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()
}

/// Says on stderr when a phase starts or ends, in seconds since boot, for a profiler's time
/// filter (`perf script --time START,END` on a recording made with `-k boottime`).
pub fn mark(phase: &str) {
    if let Some(at) = uptime_seconds() {
        eprintln!("haggle-sim: {phase} at {at:.2} s since boot");
    }
}

/// User + system CPU seconds used by this process.
pub fn cpu_seconds() -> Option<f64> {
    cpu_seconds_of("self")
}

/// User + system CPU seconds used by process `pid` (`self` for this one).
pub fn cpu_seconds_of(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here. USER_HZ is 100.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A `VmXXX` line of /proc/PID/status, in bytes.
pub fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A line of /proc/PID/status that is a plain number (`Threads`, say).
pub fn status_number(pid: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_exist_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(cpu_seconds().is_some());
            assert!(status_kib("self", "VmRSS").is_some_and(|b| b > 0));
            assert!(status_number("self", "Threads").is_some_and(|t| t >= 1));
            assert!(loopback_tx_bytes().is_some());
            assert!(loopback_tx_packets().is_some());
        }
    }
}
