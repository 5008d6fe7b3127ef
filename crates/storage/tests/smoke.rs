#![allow(clippy::unwrap_used)]
mod common;
use umbra_storage::synthetic::SyntheticChain;

#[test]
fn smoke() {
    common::each_engine(|engine| {
        let (_dir, db) = common::open(engine);
        let mut chain = SyntheticChain::new(1);
        for i in 0..5 {
            let b = chain.block(i);
            db.write_block(&b).unwrap();
        }
        let r = db.check_integrity().unwrap();
        eprintln!("{r:?} {:?}", db.file_size().unwrap());
        let popped = db.pop_blocks(2).unwrap();
        assert_eq!(popped.len(), 2);
        let r = db.check_integrity().unwrap();
        eprintln!("{r:?}");
    });
}
