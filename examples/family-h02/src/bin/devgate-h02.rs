//! devgate with the H02 codec added: every `devgate` subcommand (`start`, `check-config`,
//! `send`, ...), and `h02://` listeners.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut registry = gateway::codec_registry();
    family_h02::register(&mut registry);
    gateway::front::run(registry)
}
