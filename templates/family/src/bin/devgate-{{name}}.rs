//! The whole `devgate` command line (start, gateway, worker, check-config, ...) with the
//! {{name}} family added: listeners can be written `{{name}}://ip:port`.
fn main() -> std::process::ExitCode {
    let mut codecs = gateway::codec_registry();
    {{crate_ident}}::register(&mut codecs);
    gateway::front::run(codecs)
}
