//! Authentication and authorization of clients.

pub mod acl;
