//! A private PostgreSQL server for one test: for tests that stop, crash or restart the server, which must never
//! happen to the shared one other tests use.
//!
//! The cluster is created with `initdb` in a temporary directory and listens on 127.0.0.1 on a free port, with
//! trust authentication for user `postgres`. Binaries come from `HEARTH_TEST_PG_BIN` (default
//! `/usr/lib/postgresql/15/bin`). PostgreSQL refuses to run as root, so under root every command runs as the
//! `postgres` user (`runuser`), which owns the directory. Dropping the cluster stops it and removes the directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{free_port, unavailable, unique_name};

/// A running (or stopped, between [`PgCluster::stop`] and [`PgCluster::start`]) private PostgreSQL server.
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PgCluster {
    /// Creates and starts a cluster; `None` (NOT RUN, or a panic under `CI=true`) when the binaries are missing
    /// or the cluster cannot be created.
    pub fn create(test: &str) -> Option<PgCluster> {
        let bin = std::env::var_os("HEARTH_TEST_PG_BIN")
            .map_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"), PathBuf::from);
        if !bin.join("initdb").is_file() {
            return unavailable(test, &format!("no initdb in {} (set HEARTH_TEST_PG_BIN)", bin.display()));
        }
        let dir = std::env::temp_dir().join(unique_name("hearth-pg"));
        let cluster = PgCluster { dir, bin, port: free_port(), as_postgres: is_root() };
        match cluster.init().and_then(|()| cluster.start()) {
            Ok(()) => Some(cluster),
            Err(why) => unavailable(test, &format!("private PostgreSQL cluster: {why}")),
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.display());
        let data = self.data();
        let log = self.dir.join("server.log");
        self.run("pg_ctl", &["-D", path(&data), "-l", path(&log), "-o", &opts, "-w", "-t", "60", "start"])
    }

    /// Stops the server the way a crash or a power cut would (`immediate`: no checkpoint, recovery from the WAL
    /// on the next start).
    pub fn crash(&self) -> Result<(), String> {
        self.run("pg_ctl", &["-D", path(&self.data()), "-m", "immediate", "-w", "stop"])
    }

    /// Stops the server cleanly (`fast`: connections are ended, a checkpoint is written).
    pub fn stop(&self) -> Result<(), String> {
        self.run("pg_ctl", &["-D", path(&self.data()), "-m", "fast", "-w", "stop"])
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn init(&self) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        if self.as_postgres {
            let owner = Command::new("chown")
                .args(["postgres:postgres", path(&self.dir)])
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !owner.success() {
                return Err("chown to postgres failed (is there a postgres user?)".into());
            }
        }
        let data = self.data();
        self.run("initdb", &["-D", path(&data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd.args(args).output().map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(format!("{tool} failed ({}): {}", out.status, stderr.trim()))
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.crash();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
