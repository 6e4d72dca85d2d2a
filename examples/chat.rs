//! A chat room on devgate with its own `EventHandler`: everyone connected to the text listener
//! sees everyone's lines. Register, gateway and worker run in this one process.
//!
//! ```text
//! cargo run -p gateway --example chat            # listens on text://127.0.0.1:7272
//! cargo run -p gateway --example chat -- 7300    # another port
//! ```
//! Then connect two terminals with `nc 127.0.0.1 7272` and type.

use gateway::app;
use gateway::config::Config;
use gateway::worker::{Context, EventHandler, Incoming};
use std::path::Path;

/// Broadcasts joins, lines and leaves to the whole room.
struct ChatRoom;

impl EventHandler for ChatRoom {
    async fn on_connect(&self, cx: &Context<'_>) {
        let _ = cx.reply(format!("welcome, you are {}", cx.client_id)).await;
        cx.api
            .send_to_all(format!("{} joined", cx.client_id), &[], &[cx.client_id])
            .await;
    }

    async fn on_message(&self, cx: &Context<'_>, msg: Incoming) {
        let line = String::from_utf8_lossy(&msg.data);
        cx.api
            .send_to_all(format!("{}: {line}", cx.client_id), &[], &[])
            .await;
    }

    async fn on_close(&self, cx: &Context<'_>) {
        cx.api
            .send_to_all(format!("{} left", cx.client_id), &[], &[])
            .await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(7272);
    let text = format!(
        r#"
        [register]
        listen = "127.0.0.1:0"
        [gateway]
        listeners = [{{ url = "text://127.0.0.1:{port}" }}]
        [worker]
        name = "chat"
        "#
    );
    let registry = gateway::codec_registry();
    let mut cfg = Config::parse(Path::new("chat (built in)"), &text, &registry)?;
    tracing_subscriber::fmt().with_env_filter("warn").init();
    // The register picks a free port; gateway and worker are told where it is.
    let register = app::start_register(&cfg).await?;
    cfg.register.addresses = vec![register];
    let gw = app::start_gateway(&cfg).await?;
    let _worker = app::start_worker(&cfg, ChatRoom, Some(gw.state.clone())).await?;
    for (url, _) in &gw.listeners {
        println!("chat room on {url}");
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
