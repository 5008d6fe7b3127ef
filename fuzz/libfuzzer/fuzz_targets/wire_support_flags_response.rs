#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| umbra_fuzz::wire_support_flags_response(data));
