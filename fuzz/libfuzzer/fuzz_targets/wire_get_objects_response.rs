#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| umbra_fuzz::wire_get_objects_response(data));
