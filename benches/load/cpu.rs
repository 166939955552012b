//! CPU time used in a measured window, per document posted. It is read for the whole
//! machine (every process, from `/proc/stat`) and for the service (from `/proc/<pid>/stat`,
//! all its threads, idle during the floor's runs). It is also read for the client that sent
//! the load: this driver, or pgbench for the floor. What is left is mostly PostgreSQL, when
//! it runs on this machine. Linux only: elsewhere the machine and service figures are absent.

use serde::Serialize;

/// Source of the client's CPU time.
#[derive(Debug, Clone, Copy)]
pub enum Client {
    /// This process: the driver's HTTP clients.
    Driver,
    /// Child processes that have ended and been waited for: pgbench.
    Children,
}

/// CPU seconds used up to one instant.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    machine: Option<f64>,
    service: Option<f64>,
    client: Option<f64>,
}

/// CPU microseconds per document over a window.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PerDocument {
    pub machine_us: Option<f64>,
    pub service_us: Option<f64>,
    pub client_us: Option<f64>,
}

impl PerDocument {
    /// Subtracts the service's and the client's time from the machine's. What remains is
    /// PostgreSQL, mostly, with the kernel's interrupt work and the machine's background.
    /// `None` where a part is missing.
    pub fn rest_us(&self) -> Option<f64> {
        Some(self.machine_us? - self.service_us? - self.client_us?)
    }
}

/// Reads the CPU time used so far by the machine, by the service when its process id is
/// known, and by the client.
pub fn read(service_pid: Option<u32>, client: Client) -> Reading {
    Reading {
        machine: machine_busy_seconds(),
        service: service_pid.and_then(process_seconds),
        client: client_seconds(client),
    }
}

impl Reading {
    /// Returns the time used between `self` and `later`, per document. A figure is `None`
    /// where a reading is missing or nothing was posted.
    pub fn per_document(&self, later: &Reading, documents: u64) -> PerDocument {
        if documents == 0 {
            return PerDocument::default();
        }
        let per = |seconds: f64| seconds * 1e6 / documents as f64;
        let between = |from: Option<f64>, to: Option<f64>| Some(per(to? - from?));
        PerDocument {
            machine_us: between(self.machine, later.machine),
            service_us: between(self.service, later.service),
            client_us: between(self.client, later.client),
        }
    }
}

/// Returns the clock ticks per second that `/proc` counts time in, or 100 when unknown.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Returns the time all CPUs spent working for this machine, from the first line of
/// `/proc/stat` (user, nice, system, idle, iowait, irq, softirq, steal, in clock ticks).
/// Idle, I/O wait and steal, the time the hypervisor gave to other guests, are left out.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> =
        line.split_whitespace().skip(1).map_while(|field| field.parse().ok()).collect();
    if ticks.len() < 8 {
        return None;
    }
    let busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6];
    Some(busy as f64 / ticks_per_second())
}

/// Returns the user and system time of a process and all its threads, from `/proc/<pid>/stat`.
fn process_seconds(pid: u32) -> Option<f64> {
    stat_seconds(&format!("/proc/{pid}/stat"), 11)
}

/// Returns this process's time, or the time of its children that have ended and been waited
/// for.
fn client_seconds(client: Client) -> Option<f64> {
    let first = match client {
        Client::Driver => 11,
        Client::Children => 13,
    };
    stat_seconds("/proc/self/stat", first)
}

/// Adds up two time fields of a `stat` file. Fields are counted after the command name,
/// which is in parentheses and may hold spaces. The first field after it is field 3 of the
/// line (the state). Index 11 is then utime (field 14) and index 13 cutime (field 16); each
/// is followed by its system time.
fn stat_seconds(path: &str, first: usize) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: u64 = fields.get(first)?.parse().ok()?;
    let system: u64 = fields.get(first + 1)?.parse().ok()?;
    Some((user + system) as f64 / ticks_per_second())
}
