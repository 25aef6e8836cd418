//! Talking to upstreams: the pooled HTTP clients (direct and per account proxy), the proxy
//! connectors, and the OAuth token endpoint. Below the application services and the gateway,
//! above the store and the leaves.

pub mod client;
pub mod proxy;
pub mod token;
