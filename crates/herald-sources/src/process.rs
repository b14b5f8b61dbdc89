//! Supervises one local process like a Deployment supervises its pod: starts it in its own
//! process group with output to a rotating log, reports Ready once it has stayed up a moment,
//! restarts it with exponential backoff when it exits (CrashLoopBackOff), and on stop sends
//! SIGTERM to the group, then SIGKILL after the grace period, also when the source task is
//! aborted, so no process outlives its source.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::container::Launch;
use crate::logs::{self, RotatingLog};
use crate::runtime::SourceContext;

/// How long a process must stay up before the source is Ready.
const READY_AFTER: Duration = Duration::from_secs(1);

/// Restart delays: 1 s doubling to 30 s, back to 1 s after a run of a minute or more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    reset_after: Duration,
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(30),
            Duration::from_secs(60),
        )
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, reset_after: Duration) -> Self {
        Backoff {
            initial,
            max,
            reset_after,
            next: initial,
        }
    }

    /// The delay before the next start, after a process that ran for `ran`.
    pub fn after_exit(&mut self, ran: Duration) -> Duration {
        if ran >= self.reset_after {
            self.next = self.initial;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

/// `status 3` or `signal 9`, as people read an exit.
pub fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("status {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        (None, None) => "an unknown status".into(),
    }
}

/// Sends `signal` to every process of group `pgid`. std has no killpg and unsafe code is
/// forbidden here, so this asks kill(1); failure only means the group is already gone.
fn signal_group(pgid: u32, signal: &str) {
    if pgid <= 1 {
        return;
    }
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills a process group when dropped.
struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        signal_group(self.0, "KILL");
    }
}

/// A started process and its group. Dropping it while the process runs (the source task was
/// aborted: the source was deleted or changed) still gives it the grace period: SIGTERM now,
/// SIGKILL to the group from a background task once it exits or the grace period ends.
struct Proc {
    child: Option<Child>,
    pgid: u32,
    grace: Duration,
}

impl Proc {
    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        match &mut self.child {
            Some(c) => c.wait().await,
            None => std::future::pending().await,
        }
    }

    /// The process exited: kill what it left behind in its group, as a pod's end would.
    fn exited(mut self) {
        self.child = None;
    }

    /// SIGTERM to the group, SIGKILL after the grace period.
    async fn stop(mut self) {
        signal_group(self.pgid, "TERM");
        if let Some(c) = &mut self.child
            && tokio::time::timeout(self.grace, c.wait()).await.is_ok()
        {
            self.child = None;
        }
        // Dropping now kills the group, and the leader if it ignored SIGTERM.
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            signal_group(self.pgid, "KILL");
            return;
        };
        signal_group(self.pgid, "TERM");
        let (pgid, grace) = (self.pgid, self.grace);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    // Kills the group when done, or when the runtime shuts down first.
                    let _kill = GroupGuard(pgid);
                    let _ = tokio::time::timeout(grace, child.wait()).await;
                });
            }
            Err(_) => signal_group(pgid, "KILL"),
        }
    }
}

type SharedLog = Arc<Mutex<Option<RotatingLog>>>;

/// Writes a line of Herald's own about the process into its log.
fn note(log: &SharedLog, text: &str) {
    let line = format!("[herald {}] {text}\n", jiff::Timestamp::now());
    append(log, line.as_bytes());
}

fn append(log: &SharedLog, bytes: &[u8]) {
    if let Ok(mut guard) = log.lock()
        && let Some(l) = guard.as_mut()
        && let Err(e) = l.write(bytes)
    {
        tracing::warn!("cannot write a ContainerSource log: {e}");
    }
}

/// Copies one of the child's output streams into the log until it closes.
fn pump(mut from: impl tokio::io::AsyncRead + Unpin + Send + 'static, log: SharedLog) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 8192];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => append(&log, &buf[..n]),
            }
        }
    });
}

fn spawn(launch: &Launch, log: &SharedLog) -> std::io::Result<Child> {
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &launch.working_dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn()?;
    if let Some(out) = child.stdout.take() {
        pump(out, log.clone());
    }
    if let Some(err) = child.stderr.take() {
        pump(err, log.clone());
    }
    Ok(child)
}

/// Runs `launch` until the source is cancelled, restarting it whenever it exits.
pub async fn supervise(ctx: &SourceContext, launch: &Launch, log_path: &Path) {
    let log: SharedLog = Arc::new(Mutex::new(
        match RotatingLog::open(log_path, logs::MAX_BYTES) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(
                    "{}: cannot open the log {}: {e}; output is discarded",
                    ctx.key(),
                    log_path.display()
                );
                None
            }
        },
    ));
    let mut backoff = Backoff::default();
    let mut restarts = 0u32;
    loop {
        let started = Instant::now();
        let ended = match spawn(launch, &log) {
            Err(e) => {
                let delay = backoff.after_exit(Duration::ZERO);
                let msg = format!(
                    "cannot start {:?} of container {:?}: {e}; retrying in {}s",
                    launch.program,
                    launch.container,
                    delay.as_secs()
                );
                note(&log, &msg);
                ctx.failed("StartError", msg);
                delay
            }
            Ok(mut child) => {
                // A pid is there until the child is reaped; never signal group 0 or 1.
                let Some(pid) = child.id().filter(|p| *p > 1) else {
                    let _ = child.wait().await;
                    let delay = backoff.after_exit(Duration::ZERO);
                    ctx.pending(
                        "CrashLoopBackOff",
                        format!("container {:?} exited at once", launch.container),
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        _ = ctx.cancel.cancelled() => return,
                    }
                };
                let mut proc = Proc {
                    child: Some(child),
                    pgid: pid,
                    grace: launch.grace,
                };
                note(&log, &format!("started {:?} (pid {pid})", launch.program));
                let ready_at = tokio::time::sleep(READY_AFTER);
                tokio::pin!(ready_at);
                let mut ready = false;
                let status = loop {
                    tokio::select! {
                        s = proc.wait() => break Some(s),
                        _ = &mut ready_at, if !ready => {
                            ready = true;
                            ctx.ready();
                        }
                        _ = ctx.cancel.cancelled() => break None,
                    }
                };
                let Some(status) = status else {
                    proc.stop().await;
                    note(&log, "stopped");
                    return;
                };
                proc.exited();
                let exit = match status {
                    Ok(s) => describe(&s),
                    Err(e) => format!("an unknown status ({e})"),
                };
                restarts += 1;
                let delay = backoff.after_exit(started.elapsed());
                let msg = format!(
                    "container {:?} exited with {exit}; restarting in {}s (restart {restarts})",
                    launch.container,
                    delay.as_secs()
                );
                note(&log, &msg);
                ctx.pending("CrashLoopBackOff", msg);
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(ended) => {}
            _ = ctx.cancel.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(8), s(60));
        let delays: Vec<u64> = (0..6).map(|_| b.after_exit(s(0)).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 8, 8]);
        assert_eq!(b.after_exit(s(59)).as_secs(), 8, "not stable long enough");
        assert_eq!(b.after_exit(s(60)).as_secs(), 1, "a stable run resets");
        assert_eq!(b.after_exit(s(0)).as_secs(), 2);
    }

    #[test]
    fn exit_descriptions() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(describe(&ExitStatus::from_raw(3 << 8)), "status 3");
        assert_eq!(describe(&ExitStatus::from_raw(9)), "signal 9");
    }
}
