//! What a `no_std` wasm contract needs from its runtime library: an allocator and a panic handler.
//!
//! The allocator is a bump allocator that never frees: each call runs in a fresh instance whose
//! memory is thrown away afterwards, so freeing would only cost gas. It starts at `__heap_base`
//! (the end of the static data, set by the linker), uses the free tail of the initial memory first
//! and grows linear memory only when that is used up; growth past the runtime's limit fails the
//! call with `MemoryLimit`.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

unsafe extern "C" {
    static __heap_base: u8;
}

struct Bump {
    next: UnsafeCell<usize>,
}

// SAFETY: contracts are single-threaded (no wasm threads are enabled).
unsafe impl Sync for Bump {}

const PAGE: usize = 65536;

// SAFETY: alloc returns memory inside linear memory that no one else uses: above the end of the
// memory at the first allocation, growing the memory before handing out bytes beyond its end.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded; no other reference to `next` exists during this call.
        let next = unsafe { &mut *self.next.get() };
        if *next == 0 {
            // `__heap_base` is a linker-defined symbol; only its address is taken, never read.
            *next = core::ptr::addr_of!(__heap_base) as usize;
        }
        let start = (*next + layout.align() - 1) & !(layout.align() - 1);
        let Some(end) = start.checked_add(layout.size()) else {
            return core::ptr::null_mut();
        };
        let have = core::arch::wasm32::memory_size(0) * PAGE;
        if end > have {
            let pages = (end - have).div_ceil(PAGE);
            if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                return core::ptr::null_mut();
            }
        }
        *next = end;
        start as *mut u8
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOC: Bump = Bump {
    next: UnsafeCell::new(0),
};

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let mut msg = alloc::string::String::new();
    let _ = write!(msg, "{}", info.message());
    crate::sys::panic(&msg)
}
