//! aicarpool: a self-hosted AI API gateway in one binary with its state in one SQLite file.
//! [`run`] is the seam the binary and the tests use to start the server.
#![forbid(unsafe_code)]

pub mod admin;
pub mod assets;
pub mod cli;
pub mod config;
pub mod connections;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod gateway;
pub mod http;
pub mod json;
pub mod lanes;
pub mod lifecycle;
pub mod manage;
pub mod memory;
pub mod metrics;
pub mod router;
pub mod server;
pub mod store;
pub mod tasks;
pub mod upkeep;
pub mod upstream;

pub use server::run;
