//! Process-wide memory settings, applied before the runtime starts.
//!
//! **Transparent huge pages off.** mimalloc backs its heap with 2 MiB pages where the
//! kernel allows it, and a huge page is resident as a whole however little of it is in
//! use. Under the ingest benchmark they held 36–56 MB of the server's 213–250 MB peak
//! (`AnonHugePages` of the heap's mapping in `/proc/<pid>/smaps`). Throughput stayed
//! within the run-to-run spread without them (measured together with the SQLite heap
//! limit; alone only on PostgreSQL, one run: BENCHMARKS.md, session 17). The flag is per
//! process, inherited by the threads started after it, and leaves other processes alone.
//! It applies to every subcommand, the load generator of `cctv bench` included.

/// Turns transparent huge pages off for this process (Linux); elsewhere nothing.
pub fn limit_resident_memory() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        // Only memory is at stake: the server runs either way.
        eprintln!("cctv: could not turn transparent huge pages off: {e}");
    }
}
