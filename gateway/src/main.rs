//! The `devgate` binary: the command line of `gateway::front` with the stock codecs and device
//! families. A binary of your own with more codecs is these lines plus its registrations.

// Allocator A/B builds (issue 13, BENCHMARKS.md); jemalloc wins if both features are on.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gateway::front::run(gateway::codec_registry())
}
