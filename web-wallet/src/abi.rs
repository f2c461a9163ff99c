//! The wasm ABI: the page allocates a buffer, writes the UTF-8 request, calls `wallet_call`, reads
//! the answer at the returned pointer and length, and frees both buffers.
#![allow(unsafe_code)]

/// Allocates `len` bytes for the page to write into.
#[unsafe(no_mangle)]
pub extern "C" fn wallet_alloc(len: usize) -> *mut u8 {
    Box::into_raw(vec![0u8; len].into_boxed_slice()).cast()
}

/// Frees a buffer from [`wallet_alloc`] or [`wallet_call`].
///
/// # Safety
/// `ptr` and `len` must describe a buffer returned by this module and not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wallet_free(ptr: *mut u8, len: usize) {
    // SAFETY: the caller passes back exactly a boxed slice this module leaked.
    drop(unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(ptr, len)) });
}

/// Runs one JSON request; returns `pointer << 32 | length` of the JSON answer.
///
/// # Safety
/// `ptr` and `len` must describe initialized memory (a buffer from [`wallet_alloc`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wallet_call(ptr: *const u8, len: usize) -> u64 {
    // SAFETY: the page wrote `len` bytes at `ptr` into a buffer it got from `wallet_alloc`.
    let input = unsafe { core::slice::from_raw_parts(ptr, len) };
    let answer = crate::ops::handle_bytes(input).into_bytes().into_boxed_slice();
    let len = answer.len() as u64;
    let ptr = Box::into_raw(answer).cast::<u8>() as usize as u64;
    (ptr << 32) | len
}
