#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| umbra_fuzz::noise_handshake(data));
