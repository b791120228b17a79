//! The Tern broker library.

pub mod retained;
pub mod router;
