//! Keeps the plugin's library in memory once an instance has existed, even when the host
//! unloads it.
//!
//! Code in this library (Rust's standard library among it) registers per-thread destructors
//! on the host's threads that call into it. If the host then unloads the library (`dlclose`
//! after the last instance and the entry's `deinit`) and one of those threads ends later, the
//! C library runs a destructor whose code is gone: a crash in the host, long after mstag was
//! closed. The plugin tests met it as a SIGSEGV in `__nptl_deallocate_tsd` in about 3 of 100
//! runs of `tests/state.rs` (three test threads loading and unloading the plugin). So the
//! first instance takes one more reference to the library with `RTLD_NODELETE`: `dlclose`
//! then leaves it mapped, at the cost of its memory staying until the host exits.

use std::sync::Once;

/// Pins this library (see the module documentation); once per process, cheap after that.
pub fn pin_library() {
    static PINNED: Once = Once::new();
    PINNED.call_once(|| {
        let addr = pin_library as *const () as *const libc::c_void;
        let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
        // SAFETY: `dladdr` only reads the loader's tables, and `info` is a valid place for
        // its answer; `addr` is a function of this library.
        let found = unsafe { libc::dladdr(addr, info.as_mut_ptr()) };
        if found == 0 {
            return;
        }
        // SAFETY: `dladdr` succeeded, so `info` is initialised.
        let name = unsafe { info.assume_init() }.dli_fname;
        if name.is_null() {
            return;
        }
        // SAFETY: `name` is the loader's NUL-terminated path of this library, which is loaded
        // (RTLD_NOLOAD only adds a reference, it never loads anything new). The handle is
        // deliberately never closed.
        let _pinned = unsafe {
            libc::dlopen(
                name,
                libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
            )
        };
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn pinning_twice_is_harmless() {
        super::pin_library();
        super::pin_library();
    }
}
