//! siaga: a top-up switch (server pulsa / H2H) for Indonesian airtime resellers. This
//! library is the binary's body; `main.rs` only calls [`cli::main`]. See ARCHITECTURE.md.

pub mod app;
pub mod backups;
pub mod bench;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod engine;
pub mod health;
pub mod http;
pub mod keycache;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod ops;
pub mod report;
pub mod server;
pub mod status;
pub mod vouchers;
pub mod webhook;
pub mod wire;
