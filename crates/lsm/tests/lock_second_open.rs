//! A second open of the same directory, while the first is open, gets a clear error.

mod common;

use common::TempDir;
use strata_lsm::{Db, Error, Options};

#[test]
fn second_open_is_refused_until_the_first_closes() {
    let dir = TempDir::new("lock");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    match Db::open(dir.path(), Options::default()) {
        Err(e @ Error::Locked(_)) => assert!(e.to_string().contains("LOCK"), "{e}"),
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("second open succeeded"),
    }
    drop(db);
    Db::open(dir.path(), Options::default()).unwrap();
}
