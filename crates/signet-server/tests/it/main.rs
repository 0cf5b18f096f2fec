//! signetd end to end, in-process: each test starts its own server on
//! 127.0.0.1:0 with its own store, key-encryption key and clock.

mod harness;

mod bad_input;
mod bootstrap;
mod cli;
mod device;
mod discovery;
mod interop;
mod lockout;
mod ops;
mod signon;
mod tokens;
