//! The OTLP receiver's two transports over [`crate::ingest`].

pub mod grpc;
pub mod http;
