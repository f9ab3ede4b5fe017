//! What supervise keeps mapped while it waits.
//!
//! A supervise spends its life blocked in `poll`, so what it costs the host is the
//! memory it holds then. Start-up (parsing, config, resolving the command, making the
//! status directory) runs once but leaves its code mapped: the kernel maps file pages
//! in 64 kB windows around each page touched, and nothing unmaps them. Like the
//! kernel's own `free_initmem`, supervise lets that go once it is up
//! ([`release_start_up`]), and again whenever it waits with nothing due
//! ([`release_and_wait`], which is that wait): the read-only pages of its own binary
//! (code, constants) are unmapped with `MADV_DONTNEED`, the heap's free pages and the
//! stack below the waiting frame go back to the system. The loop maps back, on its
//! next event, only the windows it runs in; the pages stay in the page cache, shared
//! with every other supervise, and are never re-read from disk while they are there.
//!
//! This is safe because only segments the program never writes are released: for a
//! private file mapping with no written (copied) pages, `MADV_DONTNEED` drops the page
//! table entries and the next access maps the very same file page again, as the
//! kernel's own reclaim of clean file pages does at any time. Writable segments,
//! including the relocated read-only-after-relocation data, are left alone: dropping
//! them would lose their contents. So is everything when the binary has text
//! relocations (the loader wrote into its code), and the zero-filled tail of a
//! segment past its file contents. One visible effect: a debugger breakpoint or a
//! uprobe set in supervise's code before it is up is dropped with the page; set it
//! once supervise runs.

use std::ffi::c_void;
use std::path::Path;

/// What supervise lets go when it goes idle, then the wait itself: called instead of
/// `poll` each time the loop is about to wait with nothing due ([`crate::supervisor`],
/// after the turn that handled an event), and once it is up. The heap's free pages and
/// the stack below this frame go first, then the code and constants of the binary, and
/// then nothing of the program runs but this function's tail and libc's `poll` (which
/// the link order puts beside it), so that what the kernel maps back before the wait
/// is one 64 kB window. The loop maps back, at its next event, the code it runs then:
/// a few faults of pages still in the page cache, tens of microseconds once per burst
/// of events, never within a crash loop (whose waits have a deadline).
#[inline(never)]
pub fn release_and_wait(fds: &mut [libc::pollfd]) -> std::io::Result<usize> {
    let ranges = image_ranges();
    trim_heap();
    trim_stack();
    release(ranges);
    // SAFETY: `fds` is a valid slice of pollfd for the duration of the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

/// The stack pages below the current frame go back to the system: start-up and a
/// restart call deeper than the loop waits, and those pages stay dirty otherwise.
/// Below the stack pointer nothing is live but what this function calls (madvise:
/// a return address and a few words, inside the room kept; the 128-byte red zone is
/// inside it too). What runs after it (the code's release, poll) may go below this
/// frame again: those pages come back zeroed, and are written before they are read.
/// The range never leaves the stack's own mapping: it stops at the lowest address
/// that mapping had at start-up ([`stack_floor`]; a stack mapping only grows),
/// whatever the kernel's guard gap. A page touched again is a zeroed one, as it was
/// first.
#[inline(never)]
fn trim_stack() {
    let Some(floor) = stack_floor() else {
        return;
    };
    let page = page_size();
    let here = 0u8;
    let sp = std::ptr::from_ref(&here).addr() as u64;
    // This frame and its callers above stay, with room below for libc's madvise,
    // called from here; the page boundary below that room is where the trim starts.
    let top = sp.saturating_sub(MADVISE_ROOM) / page * page;
    let bottom = top.saturating_sub(STACK_TRIM).max(floor);
    if top > bottom {
        // SAFETY: [bottom, top) lies below every live frame of this thread (the only
        // one) and inside the stack's mapping.
        unsafe {
            libc::madvise(
                bottom as *mut c_void,
                (top - bottom) as libc::size_t,
                libc::MADV_DONTNEED,
            );
        }
    }
}

/// Stack kept below [`trim_stack`]'s frame, for the madvise it calls (a few words).
const MADVISE_ROOM: u64 = 256;

/// How far below the current frame the stack is trimmed at most: deeper than
/// supervise ever calls.
const STACK_TRIM: u64 = 512 * 1024;

/// The lowest address of the main thread's stack mapping, read once from
/// `/proc/self/maps` (first asked at start-up, by [`release_start_up`]).
fn stack_floor() -> Option<u64> {
    static FLOOR: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *FLOOR.get_or_init(|| {
        let maps =
            crate::statusdir::open::read_named(Path::new("/proc/self/maps"), 1 << 22).ok()?;
        let line = maps
            .split(|&b| b == b'\n')
            .find(|l| l.ends_with(b"[stack]"))?;
        let start = line.split(|&b| b == b'-').next()?;
        u64::from_str_radix(std::str::from_utf8(start).ok()?, 16).ok()
    })
}

/// Unmaps the read-only pages of the program's own binary and trims the heap. Cheap
/// (a few system calls) and never fails in a way that matters: a refused `madvise`
/// leaves the pages mapped, as before.
pub fn release_start_up() {
    stack_floor();
    release(image_ranges());
    trim_heap();
}

fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `MADV_DONTNEED` on each range.
fn release(ranges: &[(u64, u64)]) {
    for &(start, len) in ranges {
        // SAFETY: a whole-page range inside a read-only, never written segment of our
        // own image (see image_ranges).
        unsafe {
            libc::madvise(
                start as *mut c_void,
                len as libc::size_t,
                libc::MADV_DONTNEED,
            );
        }
    }
}

/// The read-only, file-backed pages of the program's own image, found once: empty
/// when the loader wrote into them (text relocations).
fn image_ranges() -> &'static [(u64, u64)] {
    static RANGES: std::sync::OnceLock<Vec<(u64, u64)>> = std::sync::OnceLock::new();
    RANGES.get_or_init(|| {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        // SAFETY: the callback only reads the program headers and dynamic section the
        // loader hands it, and writes into the Vec passed as its data.
        unsafe {
            libc::dl_iterate_phdr(
                Some(collect_own_image),
                std::ptr::from_mut(&mut ranges).cast(),
            );
        }
        ranges
    })
}

/// ELF dynamic-section tags and flags that say the loader wrote into code pages.
const DT_NULL: i64 = 0;
const DT_TEXTREL: i64 = 22;
const DT_FLAGS: i64 = 30;
const DF_TEXTREL: u64 = 0x4;

/// Whether the dynamic section at `addr` asks for relocations in read-only segments:
/// then those pages were written by the loader and must not be released.
///
/// # Safety
/// `addr` must point at the program's loaded `PT_DYNAMIC` array, ended by `DT_NULL`.
unsafe fn has_text_relocations(addr: u64) -> bool {
    let mut entry = addr as *const [u64; 2];
    loop {
        // SAFETY: within the DT_NULL-terminated array, per the contract above.
        let [tag, value] = unsafe { entry.read() };
        match tag as i64 {
            DT_NULL => return false,
            DT_TEXTREL => return true,
            DT_FLAGS if value & DF_TEXTREL != 0 => return true,
            _ => {}
        }
        // SAFETY: not past DT_NULL yet, so the next entry exists.
        entry = unsafe { entry.add(1) };
    }
}

/// `dl_iterate_phdr` callback: the first object reported is the program itself; stop
/// after it (a non-zero return ends the walk). Its read-only segments go into the
/// `Vec<(u64, u64)>` that `data` points at.
unsafe extern "C" fn collect_own_image(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> libc::c_int {
    // SAFETY: the loader passes a valid dl_phdr_info, whose dlpi_phdr points at
    // dlpi_phnum program headers, for the duration of the call; `data` is the Vec
    // image_ranges passed.
    let (base, headers, ranges) = unsafe {
        let info = &*info;
        let headers = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum))
        };
        (
            info.dlpi_addr,
            headers,
            &mut *data.cast::<Vec<(u64, u64)>>(),
        )
    };
    for h in headers {
        // SAFETY: PT_DYNAMIC of the program itself, loaded at base + p_vaddr.
        if h.p_type == libc::PT_DYNAMIC && unsafe { has_text_relocations(base + h.p_vaddr) } {
            return 1;
        }
    }
    let page = page_size();
    for h in headers {
        if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_W != 0 {
            continue;
        }
        // The file-backed part only: past p_filesz the loader zeroes what it maps,
        // and those zeroes are not in the file to come back from.
        ranges.extend(inner_pages(base + h.p_vaddr, h.p_filesz, page));
    }
    1
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// The whole pages inside `[start, start + len)`, as (address, length): rounded
/// inwards, so a page shared with a neighbouring (perhaps writable) segment is never
/// included. `None` when not one whole page fits.
fn inner_pages(start: u64, len: u64, page: u64) -> Option<(u64, u64)> {
    let first = start.checked_add(page - 1)? / page * page;
    let end = start.checked_add(len)? / page * page;
    (end > first).then(|| (first, end - first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_rounded_inwards() {
        assert_eq!(inner_pages(0x1000, 0x3000, 0x1000), Some((0x1000, 0x3000)));
        assert_eq!(inner_pages(0x1010, 0x3000, 0x1000), Some((0x2000, 0x2000)));
        assert_eq!(inner_pages(0x1010, 0x1000, 0x1000), None);
        assert_eq!(inner_pages(0x1000, 0xfff, 0x1000), None);
        assert_eq!(inner_pages(u64::MAX - 10, 100, 0x1000), None);
    }

    #[test]
    fn text_relocations_are_seen_in_either_form() {
        let check = |dynamic: &[[u64; 2]]| unsafe { has_text_relocations(dynamic.as_ptr() as u64) };
        assert!(!check(&[[1, 5], [DT_FLAGS as u64, 0x8], [0, 0]]));
        assert!(check(&[[1, 5], [DT_TEXTREL as u64, 0], [0, 0]]));
        assert!(check(&[[DT_FLAGS as u64, 0x8 | DF_TEXTREL], [0, 0]]));
        assert!(!check(&[[0, 0], [DT_TEXTREL as u64, 0]]), "DT_NULL ends it");
    }

    #[test]
    fn the_stack_floor_is_below_this_frame_on_the_main_stack_only() {
        // Test threads have stacks of their own: the floor is the main thread's.
        let here = 0u8;
        let sp = std::ptr::from_ref(&here).addr() as u64;
        let floor = stack_floor().expect("a [stack] line in /proc/self/maps");
        assert!(floor % page_size() == 0 && floor != sp, "{floor:x} {sp:x}");
    }

    #[test]
    fn code_still_runs_after_its_pages_are_released() {
        fn work(n: u64) -> u64 {
            (1..=n).map(|i| i * i % 7).sum()
        }
        let before = work(1000);
        release_start_up();
        assert_eq!(work(1000), before, "the code maps back in from the file");
        let text = format!("{before} {}", "still here");
        assert!(text.ends_with("still here"), "constants map back in too");
    }
}
