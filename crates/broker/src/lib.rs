//! The Tern broker library.
