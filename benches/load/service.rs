//! The measured service: a `subledger serve` child process on a loopback port, or a service
//! the caller already runs.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A service to send load to.
pub struct Service {
    pub base_url: String,
    /// The child process, when the driver started the service.
    child: Option<Child>,
    /// Process id whose memory is reported, when known.
    pub pid: Option<u32>,
    launch: Option<Launch>,
}

#[derive(Clone)]
struct Launch {
    database_url: String,
    pool_size: usize,
    workers: usize,
}

impl Service {
    /// Uses a running service at `base_url`; `pid` names its process for the memory figure.
    pub fn external(base_url: &str, pid: Option<u32>) -> Service {
        Service {
            base_url: base_url.trim_end_matches('/').to_string(),
            child: None,
            pid,
            launch: None,
        }
    }

    /// Starts `subledger serve` (built by cargo with this bench) on a free loopback port.
    pub async fn start(
        database_url: &str,
        pool_size: usize,
        workers: usize,
    ) -> anyhow::Result<Service> {
        let launch = Launch { database_url: database_url.to_string(), pool_size, workers };
        let mut service =
            Service { base_url: String::new(), child: None, pid: None, launch: Some(launch) };
        service.spawn().await?;
        Ok(service)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let Some(launch) = self.launch.clone() else {
            return Ok(());
        };
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        let child = Command::new(env!("CARGO_BIN_EXE_subledger"))
            .arg("serve")
            .env("DATABASE_URL", &launch.database_url)
            .env("SUBLEDGER_BIND", format!("127.0.0.1:{port}"))
            .env("SUBLEDGER_POOL_SIZE", launch.pool_size.to_string())
            .env("SUBLEDGER_WORKERS", launch.workers.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start subledger serve")?;
        self.pid = Some(child.id());
        self.child = Some(child);
        self.base_url = format!("http://127.0.0.1:{port}");
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("subledger serve exited with {status} before it was ready");
                }
            }
            let ready = http.get(format!("{}/readyz", self.base_url)).send().await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("subledger serve at {} was not ready within 60 s", self.base_url)
    }

    /// Restarts a service the driver started, so its pool opens new connections whose cached
    /// plans fit the tables as they are now. A service the caller runs is left alone.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if self.launch.is_none() {
            return Ok(());
        }
        self.stop();
        self.spawn().await
    }

    /// Peak resident set size of the service process so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}
