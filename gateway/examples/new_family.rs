//! A stand-in for `devgate new-family` until the command line has it (CI uses it to generate
//! the family it fuzzes): `cargo run -p gateway --example new_family -- NAME DIR [DEVGATE]`,
//! DEVGATE defaulting to this checkout.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, dir, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: new_family NAME DIR [DEVGATE]");
    };
    let devgate = match rest {
        [] => gateway::new_family::default_devgate_root(),
        [path] => PathBuf::from(path),
        _ => anyhow::bail!("usage: new_family NAME DIR [DEVGATE]"),
    };
    let written = gateway::new_family::generate(name, dir.as_ref(), &devgate)?;
    println!(
        "devgate: new family {name} in {dir} ({} files)",
        written.len()
    );
    Ok(())
}
