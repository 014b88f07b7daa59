//! The black-box integration tests: the real server on port 0 with simulated suppliers
//! and a real callback receiver, driven over HTTP; and the real binary for CLI commands.

mod access;
mod backup;
mod chaos;
mod cli;
mod config_check;
mod crash;
mod desk;
mod dropin;
mod dropin_chain;
mod edges;
mod escaping;
mod failover;
mod harness;
mod health;
mod metrics;
mod money;
mod notify;
mod openapi;
mod orders;
mod otomax;
mod overload;
mod postgres;
mod reload;
mod secrets;
mod sla;
mod status;
mod status_maintenance;
mod status_restart;
mod statuspage_api;
mod statuspage_clients;
mod store_copy;
mod template_reports;
mod tidy;
mod vouchers;
