//! device-sim with the H02 dialect added: every subcommand of `device-sim`, and `--proto h02`.

use device_sim::dialects::Dialects;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut dialects = Dialects::stock();
    if let Err(e) = dialects.register(family_h02::dialect::FAMILY) {
        eprintln!("device-sim-h02: {e}");
        return ExitCode::FAILURE;
    }
    device_sim::run(dialects)
}
