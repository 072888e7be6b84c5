//! The one support module of the library's unit tests: a scratch directory, an `az`-shaped
//! executable run as a real child process, environments, and a port nobody listens on.

use crate::Environment;
use azure_identity::Executor;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A fresh directory removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "asp-{name}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the command azure_identity asks for (`/bin/sh -c "cd /bin && az ..."`) as a real child
/// process whose `PATH` is `path` only, so `az` is whatever lives there (or nothing).
#[derive(Debug)]
pub(crate) struct PathExecutor {
    pub(crate) path: OsString,
}

#[async_trait::async_trait]
impl Executor for PathExecutor {
    async fn run(&self, program: &OsStr, args: &[&OsStr]) -> std::io::Result<Output> {
        tokio::process::Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", &self.path)
            .output()
            .await
    }
}

/// Writes an executable `az` into `dir` running `body` (a POSIX shell script).
pub(crate) fn write_az(dir: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("az");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write az");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod az");
}

/// An environment with exactly these variables.
pub(crate) fn env(pairs: &[(&str, &str)]) -> Environment {
    Environment::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

/// A loopback port nobody listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A `Sql Password` configuration for 127.0.0.1 on a port nobody listens on, and that port.
pub(crate) fn sql_login_to_closed_port() -> (crate::Config, u16) {
    let port = closed_port();
    let mut config = crate::Config::new("127.0.0.1");
    config
        .port(port)
        .authentication(crate::config::Authentication::SqlPassword)
        .user_id("sa")
        .password("not-shown");
    (config, port)
}
