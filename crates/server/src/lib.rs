//! # strata-server
//!
//! The RESP2/RESP3 front end that connects Redis clients to the engine.
//!
//! **Status: not implemented yet** (tracked by the server issue). The `strata-server`
//! binary only says so and exits with an error.
