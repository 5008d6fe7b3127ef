#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| umbra_fuzz::wire_fluffy_missing_txs_request(data));
