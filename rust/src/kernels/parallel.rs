//! Ember's rayon thread pool.
//!
//! Every kernel runs inside `run`, on a pool of our own rather than rayon's global one,
//! because (1) `set_num_threads` must be able to change the size at run time, (2) each
//! worker must have flush-to-zero / denormals-are-zero set (denormal weights late in
//! training slow float math by orders of magnitude; PyTorch loses 1.5x on an MLP to
//! them), and (3) a forked child must get a fresh pool instead of deadlocking on worker
//! threads that do not exist in it (`after_fork`).

use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};

/// Work below this many elements runs serially: spreading it over threads costs more
/// than it saves.
pub const MIN_PARALLEL: usize = 1 << 15;

static POOL: RwLock<Option<Pool>> = RwLock::new(None);
static THREADS: RwLock<usize> = RwLock::new(0);

/// The pool, and for a one-thread pool that the building thread joined, that thread and a
/// plain one-worker pool for calls from any other thread (built when first needed): a job
/// handed to a pool whose only worker is a thread busy in Python would wait for it.
#[derive(Clone)]
struct Pool {
    main: Arc<rayon::ThreadPool>,
    owner: Option<std::thread::ThreadId>,
    others: Arc<std::sync::OnceLock<Arc<rayon::ThreadPool>>>,
}

fn default_threads() -> usize {
    std::env::var("EMBER_NUM_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// Sets FTZ (bit 15) and DAZ (bit 6) in this thread's MXCSR.
pub fn set_flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: stmxcsr/ldmxcsr only read and write this thread's SSE control register;
    // setting FTZ/DAZ changes rounding of denormals only.
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
        csr |= (1 << 15) | (1 << 6);
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack));
    }
}

/// Whether FTZ and DAZ are set on the calling thread.
pub fn denormals_flushed() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: reads this thread's MXCSR into a local.
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
        csr & ((1 << 15) | (1 << 6)) == (1 << 15) | (1 << 6)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A pool of `threads` workers named `name`-i, each flushing denormals.
fn builder(threads: usize, name: &'static str) -> rayon::ThreadPoolBuilder {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("{name}-{i}"))
        .start_handler(|_| set_flush_denormals())
}

fn start_error(threads: usize, e: rayon::ThreadPoolBuildError) -> Error {
    Error::value("set_num_threads", format!("could not start {threads} threads: {e}"))
}

fn build(threads: usize) -> Result<Pool> {
    // The thread that builds the pool (Python's, normally) joins it as worker 0, as
    // PyTorch's intra-op pool uses its caller: a kernel it calls then runs on it at once and
    // shares the work, instead of being handed to a sleeping worker while the caller sleeps
    // too (two wake-ups, about 40-60 us each on a small VM, on every parallel kernel of a
    // step; a 128-row batch gather measured 37-155 us handed over against 16 us at once). A
    // thread can join one pool only, so a rebuilt pool (set_num_threads, after a fork) falls
    // back to plain workers. Calls from other threads are handed over: to the pool's other
    // workers, or with one thread to a pool of their own (see `Pool`).
    let others = Arc::new(std::sync::OnceLock::new());
    if let Ok(p) = builder(threads, "ember-worker").use_current_thread().build() {
        let owner = (threads == 1).then(|| std::thread::current().id());
        return Ok(Pool { main: Arc::new(p), owner, others });
    }
    builder(threads, "ember-worker")
        .build()
        .map(|p| Pool { main: Arc::new(p), owner: None, others })
        .map_err(|e| start_error(threads, e))
}

/// The pool a kernel called on this thread runs on.
fn pool() -> Result<Arc<rayon::ThreadPool>> {
    let p = shared_pool()?;
    match p.owner {
        Some(id) if id != std::thread::current().id() => {
            if let Some(o) = p.others.get() {
                return Ok(o.clone());
            }
            let o = builder(1, "ember-worker-other").build().map_err(|e| start_error(1, e))?;
            Ok(p.others.get_or_init(|| Arc::new(o)).clone())
        }
        _ => Ok(p.main),
    }
}

fn shared_pool() -> Result<Pool> {
    if let Ok(guard) = POOL.read() {
        if let Some(p) = guard.as_ref() {
            return Ok(p.clone());
        }
    }
    let mut guard = POOL.write().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        return Ok(p.clone());
    }
    let mut threads = THREADS.write().unwrap_or_else(|e| e.into_inner());
    if *threads == 0 {
        *threads = default_threads();
    }
    let p = build(*threads)?;
    *guard = Some(p.clone());
    Ok(p)
}

/// Runs `f` on Ember's pool (FTZ/DAZ set on every worker).
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    // Kernels may run on the calling thread (worker 0, see `build`), whose floating-point
    // mode belongs to the caller: flush denormals for the kernel and restore it after.
    let saved = mxcsr();
    set_flush_denormals();
    let out = pool().map(|p| p.install(f));
    restore_mxcsr(saved);
    out
}

fn mxcsr() -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr only stores the SSE control/status register into `csr`.
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
        csr
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

fn restore_mxcsr(csr: u32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: loads back a value read from the register by `mxcsr`.
    unsafe {
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack))
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = csr;
}

thread_local! {
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Threads a kernel called here may split its work over: the pool's, or 1 inside
/// `serially` (a task that is itself one of several parallel parts).
pub fn threads_here() -> usize {
    if SERIAL.with(|s| s.get()) {
        1
    } else {
        rayon::current_num_threads().max(1)
    }
}

/// Runs `f` with `threads_here() == 1` on this thread.
pub fn serially<R>(f: impl FnOnce() -> R) -> R {
    let prev = SERIAL.with(|s| s.replace(true));
    let r = f();
    SERIAL.with(|s| s.set(prev));
    r
}

pub fn num_threads() -> usize {
    let t = *THREADS.read().unwrap_or_else(|e| e.into_inner());
    if t == 0 {
        default_threads()
    } else {
        t
    }
}

pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::value("set_num_threads", "the number of threads must be >= 1, got 0"));
    }
    let p = build(n)?;
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(p);
    *THREADS.write().unwrap_or_else(|e| e.into_inner()) = n;
    Ok(())
}

/// Called in a forked child: the parent's worker threads do not exist here, so the
/// old pool is leaked (dropping it would wait on them) and a new one is built lazily.
pub fn after_fork() {
    let mut guard = POOL.write().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = guard.take() {
        std::mem::forget(old);
    }
}

/// Chunk length that gives each thread a few chunks of at least `MIN_PARALLEL / 4`.
pub fn chunk_len(n: usize) -> usize {
    let t = rayon::current_num_threads().max(1);
    (n.div_ceil(t * 4)).max(MIN_PARALLEL / 4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_flush_denormals() {
        assert!(run(denormals_flushed).unwrap());
    }

    #[test]
    fn zero_threads_is_an_error() {
        assert!(set_num_threads(0).is_err());
    }
}
