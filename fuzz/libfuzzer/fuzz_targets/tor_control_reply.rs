#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| umbra_fuzz::tor_control_reply(data));
