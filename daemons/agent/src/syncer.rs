//! Group commit for checkpoints: writers append or replace files without waiting for the disk,
//! then ask for a sync and get a generation number; one thread makes everything written so far
//! durable with a single `syncfs` on the checkpoint filesystem and publishes the newest
//! generation that is now durable.
//!
//! An fsync per file would cost a device flush per status update and per checkpoint file, and
//! the agent's event loop would wait for each. Here the loop never waits: what must follow
//! durability (forwarding an update to the master) waits for its generation, and every request
//! made while a sync runs shares the next one.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use tokio::sync::watch;

/// Requests and the worker's progress.
#[derive(Debug, Default)]
struct Progress {
    /// The newest generation asked for.
    requested: u64,
    /// Set when the owner is gone: the worker finishes what was asked and exits.
    closing: bool,
}

#[derive(Debug)]
struct Shared {
    progress: Mutex<Progress>,
    wake: Condvar,
}

/// The handle writers use; the worker thread stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct Syncer {
    shared: Arc<Shared>,
    durable: watch::Receiver<u64>,
    _owner: Arc<Owner>,
}

/// Tells the worker to stop once no handle is left.
#[derive(Debug)]
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        let mut p = self
            .0
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        p.closing = true;
        self.0.wake.notify_all();
    }
}

impl Syncer {
    /// Starts the worker for the filesystem holding `dir` (created if missing).
    pub fn start(dir: &Path) -> io::Result<Syncer> {
        std::fs::create_dir_all(dir)?;
        let handle = File::open(dir)?;
        let shared = Arc::new(Shared {
            progress: Mutex::new(Progress::default()),
            wake: Condvar::new(),
        });
        let (tx, rx) = watch::channel(0u64);
        let worker = shared.clone();
        let name = dir.display().to_string();
        std::thread::Builder::new()
            .name("checkpoint-sync".into())
            .spawn(move || run(&worker, &handle, &tx, &name))?;
        Ok(Syncer {
            _owner: Arc::new(Owner(shared.clone())),
            shared,
            durable: rx,
        })
    }

    /// Asks for everything written before this call to be made durable; returns the
    /// generation to wait for.
    pub fn request(&self) -> u64 {
        let mut p = self
            .shared
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        p.requested += 1;
        self.shared.wake.notify_one();
        p.requested
    }

    /// The newest durable generation, watchable.
    pub fn durable(&self) -> watch::Receiver<u64> {
        self.durable.clone()
    }

    /// Waits until `generation` is durable (returns at once if the worker is gone).
    pub async fn wait(&self, generation: u64) {
        let mut rx = self.durable.clone();
        let _ = rx.wait_for(|done| *done >= generation).await;
    }

    /// Writes everything so far and waits for it to be durable.
    pub async fn sync(&self) {
        let generation = self.request();
        self.wait(generation).await;
    }
}

fn run(shared: &Shared, handle: &File, durable: &watch::Sender<u64>, name: &str) {
    let mut done = 0u64;
    loop {
        let target = {
            let mut p = shared
                .progress
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            while p.requested == done && !p.closing {
                p = shared.wake.wait(p).unwrap_or_else(PoisonError::into_inner);
            }
            if p.requested == done {
                return;
            }
            p.requested
        };
        // Everything requested up to `target` was written before its request, so one syncfs
        // started now covers all of it.
        if let Err(e) = nix::unistd::syncfs(handle) {
            tracing::error!("cannot sync checkpoints under {name}: {e}");
        }
        done = target;
        durable.send_replace(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn generations_complete_in_order_and_share_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let syncer = Syncer::start(dir.path()).unwrap();
        let first = syncer.request();
        let second = syncer.request();
        assert!(second > first);
        syncer.wait(second).await;
        assert!(*syncer.durable().borrow() >= second);
        syncer.sync().await;
        assert!(*syncer.durable().borrow() > second);
    }

    #[tokio::test]
    async fn the_worker_stops_with_the_last_handle() {
        let dir = tempfile::tempdir().unwrap();
        let syncer = Syncer::start(dir.path()).unwrap();
        let mut durable = syncer.durable();
        let copy = syncer.clone();
        drop(syncer);
        copy.sync().await;
        drop(copy);
        // The sender lives in the worker: it is dropped when the worker returns.
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while durable.changed().await.is_ok() {}
        })
        .await
        .expect("worker exits");
    }
}
