//! Reusing the big buffers of the backup pipeline.
//!
//! Row batches (256 KiB) and part buffers (8 MiB) are filled, frozen into [`Bytes`], handed to
//! another stage and dropped there. Allocated afresh each time, every one of their pages is
//! faulted in and zeroed by the kernel again: glibc returns freed part buffers to the OS at once
//! (see `bound_allocator_memory`) and trims freed batches off its arenas. On the benchmark's
//! 0.4 GB database that was 80,000 page faults and a tenth of the backup's client CPU.
//! A [`Recycler`] keeps a handle on the last buffers it handed out and gives a buffer out again
//! once every other handle on it is gone, so memory stays at what is in flight.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Hands out empty buffers of one capacity, reusing the ones handed out before once nobody else
/// holds them. Holds at most `keep` buffers, so it never pins more than `keep * capacity` bytes
/// beyond what the other stages hold anyway.
#[derive(Debug)]
pub struct Recycler {
    capacity: usize,
    keep: usize,
    handed_out: VecDeque<Bytes>,
}

impl Recycler {
    pub fn new(capacity: usize, keep: usize) -> Self {
        Recycler { capacity, keep, handed_out: VecDeque::with_capacity(keep) }
    }

    /// An empty buffer of at least the recycler's capacity: one handed out earlier whose every
    /// other handle has been dropped, or a new one.
    pub fn buffer(&mut self) -> BytesMut {
        let unused = self.handed_out.iter().position(Bytes::is_unique);
        if let Some(Ok(mut buffer)) =
            unused.and_then(|at| self.handed_out.remove(at)).map(Bytes::try_into_mut)
        {
            buffer.clear();
            if buffer.capacity() >= self.capacity {
                return buffer;
            }
        }
        BytesMut::with_capacity(self.capacity)
    }

    /// Freeze a filled buffer, keeping a handle so its allocation can come back.
    pub fn freeze(&mut self, buffer: BytesMut) -> Bytes {
        let bytes = buffer.freeze();
        if self.keep > 0 {
            if self.handed_out.len() == self.keep {
                self.handed_out.pop_front();
            }
            self.handed_out.push_back(bytes.clone());
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(recycler: &mut Recycler, byte: u8) -> Bytes {
        let mut buffer = recycler.buffer();
        buffer.extend_from_slice(&[byte; 100]);
        recycler.freeze(buffer)
    }

    #[test]
    fn a_dropped_buffer_comes_back_empty_with_its_allocation() {
        let mut recycler = Recycler::new(1024, 2);
        let first = filled(&mut recycler, 1);
        let address = first.as_ptr();
        drop(first);
        let again = recycler.buffer();
        assert_eq!((again.as_ptr(), again.len()), (address, 0));
        assert!(again.capacity() >= 1024);
    }

    #[test]
    fn a_buffer_still_held_elsewhere_is_never_handed_out() {
        let mut recycler = Recycler::new(1024, 2);
        let held = filled(&mut recycler, 7);
        let mut other = recycler.buffer();
        assert_ne!(other.as_ptr(), held.as_ptr());
        other.extend_from_slice(&[9; 10]);
        // The held bytes are untouched by the second buffer's use.
        assert!(held.iter().all(|&b| b == 7) && held.len() == 100);
    }

    #[test]
    fn it_keeps_at_most_keep_buffers() {
        let mut recycler = Recycler::new(64, 2);
        let buffers: Vec<Bytes> = (0..5).map(|i| filled(&mut recycler, i)).collect();
        assert_eq!(recycler.handed_out.len(), 2);
        drop(buffers);
        let none_kept = Recycler::new(64, 0).freeze(BytesMut::from(&b"x"[..]));
        assert!(none_kept.is_unique());
    }
}
