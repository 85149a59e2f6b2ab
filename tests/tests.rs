//! The one integration-test binary. Each module drives the real binary (or the real sandbox)
//! in a fresh temporary folder.

mod plan;
mod util;
