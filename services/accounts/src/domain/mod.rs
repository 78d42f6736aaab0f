//! The rules of accounts, with no IO: what a valid email and an acceptable password are,
//! and how refresh tokens are made and stored.

pub mod credentials;
pub mod tokens;
