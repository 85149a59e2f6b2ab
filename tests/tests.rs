//! The one integration-test binary. Each module drives the real binary or the real sandbox.

mod sandbox;
