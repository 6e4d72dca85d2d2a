//! devgate with the H02 codec added: every `devgate` subcommand, and `h02://` listeners.
//!
//! TODO(lead): not built yet (see Cargo.toml): it needs `gateway::front::run` from the
//! sdk-front branch. Once merged, enable its `[[bin]]` and retire devgate-h02-start.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut registry = gateway::codec_registry();
    family_h02::register(&mut registry);
    gateway::front::run(registry)
}
