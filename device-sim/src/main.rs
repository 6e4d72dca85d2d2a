//! The stock `device-sim` binary: [`device_sim::run`] with the stock device families.

use device_sim::dialects::Dialects;
use std::process::ExitCode;

fn main() -> ExitCode {
    device_sim::run(Dialects::stock())
}
