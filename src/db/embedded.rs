//! The embedded default database: a private PostgreSQL cluster started from the server binaries
//! installed on the machine, used when `DATABASE_URL` is unset.
//!
//! `postgresql_embedded` was evaluated first: it downloads server binaries at run time unless
//! pointed at an installation, and runs `initdb` as the current user, which PostgreSQL refuses
//! for root. This module uses the local binaries and, when running as root, runs the cluster as
//! the unprivileged `postgres` system user.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{bail, Context};

/// A running private cluster. Stopping happens on drop and, for clusters that live in statics,
/// at process exit.
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    /// Whether this value started the cluster, and so stops it.
    started: bool,
    /// The temporary directory holding the cluster, removed once the cluster stops.
    temporary_root: Option<PathBuf>,
}

/// Clusters still running, stopped by the `atexit` hook.
static RUNNING: Mutex<Vec<StopCommand>> = Mutex::new(Vec::new());

#[derive(Clone, PartialEq)]
struct StopCommand {
    pg_ctl: PathBuf,
    data_dir: PathBuf,
    owner: Option<(u32, u32)>,
    remove_after_stop: Option<PathBuf>,
}

impl StopCommand {
    fn run(&self) {
        let mut command = Command::new(&self.pg_ctl);
        command.arg("stop").arg("-D").arg(&self.data_dir).args(["-m", "fast", "-w", "-s"]);
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        if let Err(err) = command.status() {
            eprintln!("subledger: could not stop embedded PostgreSQL: {err}");
        }
        if let Some(root) = &self.remove_after_stop {
            if let Err(err) = std::fs::remove_dir_all(root) {
                eprintln!("subledger: failed to remove {}: {err}", root.display());
            }
        }
    }
}

extern "C" fn stop_all_at_exit() {
    let commands = match RUNNING.lock() {
        Ok(mut running) => std::mem::take(&mut *running),
        Err(_) => return,
    };
    for command in commands {
        command.run();
    }
}

impl EmbeddedPostgres {
    /// Starts a throwaway cluster in a new temporary directory, removed when it stops, at the
    /// latest when the process exits (a cluster kept in a `static` is never dropped).
    pub fn start_temporary() -> anyhow::Result<EmbeddedPostgres> {
        let temp = tempfile::Builder::new().prefix("subledger-pg-").tempdir()?;
        let root = temp.path().to_path_buf();
        let cluster = EmbeddedPostgres::open(&root, false, true)?;
        // From here on the cluster's stop command removes the directory.
        let _ = temp.keep();
        Ok(cluster)
    }

    /// Starts the cluster kept in `root`, creating it on first use. With `durable` false the
    /// cluster runs with `fsync=off`, which is only safe for data that may be lost.
    pub fn start_in(root: &Path, durable: bool) -> anyhow::Result<EmbeddedPostgres> {
        EmbeddedPostgres::open(root, durable, false)
    }

    fn open(root: &Path, durable: bool, temporary: bool) -> anyhow::Result<EmbeddedPostgres> {
        let bin_dir = find_bin_dir()?;
        let owner = unprivileged_owner()?;
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create directory {}", root.display()))?;
        if let Some((uid, gid)) = owner {
            chown(root, uid, gid)?;
        }
        let mut cluster = EmbeddedPostgres {
            bin_dir,
            data_dir: root.join("data"),
            socket_dir: root.to_path_buf(),
            port: free_port()?,
            owner,
            started: false,
            temporary_root: temporary.then(|| root.to_path_buf()),
        };
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.initdb()?;
        }
        if let Some(port) = running_port(&cluster.data_dir) {
            // Another process runs the cluster (`serve` while `tenants create` runs, or one that
            // was killed): use it and leave it running.
            cluster.port = port;
            return Ok(cluster);
        }
        cluster.start(durable)?;
        cluster.started = true;
        Ok(cluster)
    }

    /// Connection string for `database` as the superuser `postgres`, over TCP on loopback.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Returns whether this value started the cluster rather than joining a running one.
    pub fn started_here(&self) -> bool {
        self.started
    }

    /// Keeps the cluster running after this value is dropped and the process exits.
    pub fn detach(mut self) {
        let stop = self.stop_command();
        if let Ok(mut running) = RUNNING.lock() {
            running.retain(|command| *command != stop);
        }
        self.data_dir = PathBuf::new();
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn initdb(&self) -> anyhow::Result<()> {
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .context("cannot run initdb")?;
        if !output.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
    }

    fn start(&self, durable: bool) -> anyhow::Result<()> {
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=200",
            self.port,
            self.socket_dir.display()
        );
        if !durable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let log = self.socket_dir.join("postgres.log");
        let output = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-s", "-t", "60", "-o", &options])
            .output()
            .context("cannot run pg_ctl")?;
        if !output.status.success() {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            bail!(
                "embedded PostgreSQL did not start: {} {}",
                String::from_utf8_lossy(&output.stderr).trim(),
                server_log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            );
        }
        register_at_exit(self.stop_command());
        Ok(())
    }

    fn stop_command(&self) -> StopCommand {
        StopCommand {
            pg_ctl: self.bin_dir.join("pg_ctl"),
            data_dir: self.data_dir.clone(),
            owner: self.owner,
            remove_after_stop: self.temporary_root.clone(),
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if !self.started || self.data_dir.as_os_str().is_empty() {
            return;
        }
        let stop = self.stop_command();
        if let Ok(mut running) = RUNNING.lock() {
            running.retain(|command| *command != stop);
        }
        stop.run();
    }
}

/// The port of the postmaster running in `data_dir`, from its `postmaster.pid` (pid on the
/// first line, port on the fourth), if that process is alive.
fn running_port(data_dir: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let pid: libc::pid_t = lines.first()?.trim().parse().ok()?;
    let port = lines.get(3)?.trim().parse().ok()?;
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive.then_some(port)
}

fn register_at_exit(stop: StopCommand) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // SAFETY: `stop_all_at_exit` is a plain extern "C" function with no arguments.
        unsafe {
            libc::atexit(stop_all_at_exit);
        }
    });
    if let Ok(mut running) = RUNNING.lock() {
        running.push(stop);
    }
}

/// Finds the directory that holds `initdb` and `pg_ctl`: first on PATH, then the newest
/// `/usr/lib/postgresql/*/bin`.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in on_path {
        if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
            let initdb = std::fs::canonicalize(dir.join("initdb"))?;
            if let Some(real_dir) = initdb.parent() {
                return Ok(real_dir.to_path_buf());
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in \
             /usr/lib/postgresql/*/bin: install the Debian package `postgresql` \
             (apt-get install postgresql) or set DATABASE_URL to a running server"
        ),
    }
}

/// PostgreSQL refuses to run as root, so root runs the cluster as the `postgres` system user.
fn unprivileged_owner() -> anyhow::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new("postgres")?;
    // SAFETY: `name` is a valid C string; the returned record is read before any other call.
    let record = unsafe { libc::getpwnam(name.as_ptr()) };
    if record.is_null() {
        bail!(
            "running as root, the embedded PostgreSQL needs the unprivileged system user \
             `postgres` (created by the Debian package `postgresql`), or set DATABASE_URL"
        );
    }
    // SAFETY: checked non-null above.
    let (uid, gid) = unsafe { ((*record).pw_uid, (*record).pw_gid) };
    Ok(Some((uid, gid)))
}

fn chown(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("cannot give {} to the postgres user", path.display()))
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary cluster kept in a `static` is never dropped, so the stop command that the
    /// exit hook runs must remove its directory.
    #[test]
    fn stop_command_removes_temporary_directory() {
        let cluster = EmbeddedPostgres::start_temporary().unwrap();
        let root = cluster.data_dir().parent().unwrap().to_path_buf();
        let stop = cluster.stop_command();
        RUNNING.lock().unwrap().retain(|command| *command != stop);
        std::mem::forget(cluster);

        stop.run();

        assert!(!root.exists(), "{} is still there", root.display());
    }
}
