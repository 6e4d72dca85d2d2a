//! The `devgate` binary: the command line of `gateway::front` with the stock codecs and device
//! families. A binary of your own with more codecs is these lines plus its registrations.

fn main() -> std::process::ExitCode {
    gateway::front::run(gateway::codec_registry())
}
