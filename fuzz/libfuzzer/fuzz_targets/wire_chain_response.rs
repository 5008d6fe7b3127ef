#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| umbra_fuzz::wire_chain_response(data));
