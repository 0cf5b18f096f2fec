//! Password hashing on a fixed pool of threads, one per core.
//!
//! argon2id is the most expensive thing signetd does, on purpose. The pool
//! bounds how many hashes run at once to the cores, so a flood of sign-on
//! attempts queues instead of starving every other request (a DoS defence),
//! and a bounded number more may wait in the queue. Each thread keeps its own
//! argon2 working memory, allocated at its first hash (so a signetd that
//! only issues tokens never holds it), and takes the next job as soon as it
//! finishes one: under load the cores never wait for a handoff through the
//! async runtime.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use signet_core::password::{self, HashMemory};
use signet_core::secret::Secret;
use tokio::sync::{Semaphore, oneshot};

/// Jobs that may wait for a thread, per thread, beyond the one it runs.
const QUEUED_PER_THREAD: usize = 3;

type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

pub struct Hasher {
    jobs: mpsc::Sender<Job>,
    /// Jobs running or queued; a request beyond the bound waits here, off
    /// the threads and holding nothing.
    admitted: Arc<Semaphore>,
}

impl Hasher {
    pub fn new(threads: usize) -> Hasher {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("signetd-hash-{n}")).spawn(move || {
                // Sized by the first hash, then kept: giving 19 MiB back after
                // each burst only fragments the allocator (glibc raises its
                // mmap threshold after the first free), so RSS grows instead.
                let mut memory = HashMemory::new();
                loop {
                    // The lock is held only while waiting for a job; the
                    // channel closes when the state (and its Hasher) is dropped.
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(&mut memory),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Hasher { jobs, admitted: Arc::new(Semaphore::new(threads * (1 + QUEUED_PER_THREAD))) }
    }

    /// Runs `f` on a hashing thread once admitted; `None` if the pool is gone.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut HashMemory) -> T + Send + 'static) -> Option<T> {
        let permit = self.admitted.clone().acquire_owned().await.ok()?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = tx.send(f(memory));
            drop(permit);
        });
        self.jobs.send(job).ok()?;
        rx.await.ok()
    }

    /// Runs another argon2 computation (a configuration archive's key) on
    /// the pool, so it counts against the same bound as sign-ons.
    pub async fn spend<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        self.run(move |_| f()).await
    }

    /// Whether `password` matches `phc`; with no hash (an unknown account), a
    /// fixed one is verified instead, so the answer takes the same time.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> bool {
        let password = Secret::new(password.to_owned());
        let phc = phc.unwrap_or(password::DUMMY_HASH).to_owned();
        self.run(move |memory| password::verify_with(password.expose(), &phc, memory)).await.unwrap_or(false)
    }

    /// A new PHC hash of `password`.
    pub async fn hash(&self, password: &str) -> Option<String> {
        let password = Secret::new(password.to_owned());
        self.run(move |_| password::hash(password.expose()).ok()).await.flatten()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn hashes_and_verifies_on_the_pool() {
        let hasher = Hasher::new(2);
        let phc = hasher.hash("correct horse battery").await.unwrap();
        let (right, wrong, unknown) = tokio::join!(
            hasher.verify("correct horse battery", Some(&phc)),
            hasher.verify("correct horse battery!", Some(&phc)),
            hasher.verify("correct horse battery", None),
        );
        assert!(right);
        assert!(!wrong);
        assert!(!unknown, "an unknown account never verifies");
    }

    #[tokio::test]
    async fn more_requests_than_the_bound_all_complete() {
        let hasher = Arc::new(Hasher::new(1));
        let phc = hasher.hash("correct horse battery").await.unwrap();
        let mut all = tokio::task::JoinSet::new();
        for _ in 0..(1 + QUEUED_PER_THREAD) * 3 {
            let (hasher, phc) = (hasher.clone(), phc.clone());
            all.spawn(async move { hasher.verify("correct horse battery", Some(&phc)).await });
        }
        let results = all.join_all().await;
        assert_eq!(results.len(), (1 + QUEUED_PER_THREAD) * 3);
        assert!(results.into_iter().all(|ok| ok));
    }
}
