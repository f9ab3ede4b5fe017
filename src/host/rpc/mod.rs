//! The host's supervisord-compatible XML-RPC interface: what `supervisorctl` and
//! other supervisord clients speak to a host. [`xml`] is its wire codec (pure).

pub mod methods;
pub mod xml;
