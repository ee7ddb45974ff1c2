//! Log write throughput: THREADS threads each log LINES `connect from` lines to a
//! maillog_file in a temporary directory, written at once by each thread (`direct`, as
//! commands do and as the daemon did before the flusher) or through the flusher thread
//! (`buffered`, the daemon now); the modes alternate, ROUNDS times each. Prints lines/s.
//! `cargo run --release --example log_bench [THREADS] [LINES] [ROUNDS]`.

use std::path::Path;
use std::time::Instant;

use postern::config::Config;
use postern::log;

fn round(threads: usize, lines: usize) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..lines {
                    log::lines::connect("client.example.com[192.0.2.1]");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    log::flush();
    (threads * lines) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let threads = args.first().copied().unwrap_or(10);
    let lines = args.get(1).copied().unwrap_or(20_000);
    let rounds = args.get(2).copied().unwrap_or(3);
    let dir = std::env::temp_dir().join(format!("postern-log-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let maillog = dir.join("maillog");
    let cfg = Config::from_pairs(
        Path::new("/nonexistent"),
        &[
            ("myhostname", "www.a.org"),
            ("maillog_file", maillog.to_str().unwrap()),
        ],
    );
    log::init_with_socket(&cfg, false, Path::new("/nonexistent/socket"));
    for r in 0..rounds {
        let direct = round(threads, lines);
        log::start_buffering().unwrap();
        let buffered = round(threads, lines);
        log::stop();
        println!(
            "round {}: {} threads x {} lines: direct {:.0} lines/s, buffered {:.0} lines/s",
            r + 1,
            threads,
            lines,
            direct,
            buffered
        );
    }
    let written = std::fs::read_to_string(&maillog).unwrap().lines().count();
    assert_eq!(written, 2 * rounds * threads * lines, "lines lost");
    std::fs::remove_dir_all(&dir).unwrap();
}
