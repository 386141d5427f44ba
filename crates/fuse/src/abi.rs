//! The kernel's `/dev/fuse` message layouts (`include/uapi/linux/fuse.h`, protocol 7.31 and
//! later), written as byte offsets: every struct is decoded from and encoded to host-endian
//! bytes by hand, so no `unsafe` cast and no panic on short input.
//!
//! Only what a server exposing one regular file needs is here. Sizes are the kernel's
//! `sizeof` on every architecture (the header pads every struct to 64 bits).

/// Protocol major version this server speaks.
pub const KERNEL_VERSION: u32 = 7;
/// Highest minor version this server replies with; the kernel uses the lower of its own
/// and this one.
pub const KERNEL_MINOR_VERSION: u32 = 36;
/// Lowest minor version accepted from the kernel (7.28 brought `max_pages`, 7.31 is
/// Linux 5.2's level; anything Debian 11 or later ships is above it).
pub const MIN_KERNEL_MINOR: u32 = 31;
/// The root directory's node id.
pub const ROOT_ID: u64 = 1;

/// `sizeof(struct fuse_in_header)`.
pub const IN_HEADER_SIZE: usize = 40;
/// `sizeof(struct fuse_out_header)`.
pub const OUT_HEADER_SIZE: usize = 16;
/// `sizeof(struct fuse_init_in)` (7.36+); older kernels send the first 16 bytes.
pub const INIT_IN_SIZE: usize = 64;
/// The part of `fuse_init_in` every kernel sends (major, minor, max_readahead, flags).
pub const INIT_IN_MIN_SIZE: usize = 16;
/// `sizeof(struct fuse_init_out)`.
pub const INIT_OUT_SIZE: usize = 64;
/// `sizeof(struct fuse_attr)`.
pub const ATTR_SIZE: usize = 88;
/// `sizeof(struct fuse_entry_out)`.
pub const ENTRY_OUT_SIZE: usize = 40 + ATTR_SIZE;
/// `sizeof(struct fuse_attr_out)`.
pub const ATTR_OUT_SIZE: usize = 16 + ATTR_SIZE;
/// `sizeof(struct fuse_open_out)`.
pub const OPEN_OUT_SIZE: usize = 16;
/// `sizeof(struct fuse_read_in)`.
pub const READ_IN_SIZE: usize = 40;
/// `sizeof(struct fuse_write_in)`.
pub const WRITE_IN_SIZE: usize = 40;
/// `sizeof(struct fuse_write_out)`.
pub const WRITE_OUT_SIZE: usize = 8;
/// `sizeof(struct fuse_kstatfs)` (= `fuse_statfs_out`).
pub const STATFS_OUT_SIZE: usize = 80;
/// `sizeof(struct fuse_fsync_in)`.
pub const FSYNC_IN_SIZE: usize = 16;
/// `sizeof(struct fuse_flush_in)`.
pub const FLUSH_IN_SIZE: usize = 24;
/// `sizeof(struct fuse_setattr_in)`.
pub const SETATTR_IN_SIZE: usize = 88;
/// `sizeof(struct fuse_interrupt_in)`.
pub const INTERRUPT_IN_SIZE: usize = 8;
/// `offsetof(struct fuse_dirent, name)`.
pub const DIRENT_NAME_OFFSET: usize = 24;

/// `enum fuse_opcode` values this server knows by name.
pub mod opcode {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const GETXATTR: u32 = 22;
    pub const LISTXATTR: u32 = 23;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const FSYNCDIR: u32 = 30;
    pub const ACCESS: u32 = 34;
    pub const INTERRUPT: u32 = 36;
    pub const DESTROY: u32 = 38;
    pub const BATCH_FORGET: u32 = 42;
}

/// `FUSE_*` INIT flags (the low 32 bits).
pub mod init_flags {
    pub const ASYNC_READ: u32 = 1 << 0;
    pub const BIG_WRITES: u32 = 1 << 5;
    pub const ASYNC_DIO: u32 = 1 << 15;
    pub const WRITEBACK_CACHE: u32 = 1 << 16;
    pub const PARALLEL_DIROPS: u32 = 1 << 18;
    pub const ABORT_ERROR: u32 = 1 << 21;
    pub const MAX_PAGES: u32 = 1 << 22;
    pub const INIT_EXT: u32 = 1 << 30;
    /// `FUSE_OVER_IO_URING` (bit 41 of the 64-bit flags: bit 9 of `flags2`).
    pub const OVER_IO_URING_FLAGS2: u32 = 1 << (41 - 32);
}

/// `FOPEN_DIRECT_IO`: bypass the page cache for this open file.
pub const FOPEN_DIRECT_IO: u32 = 1 << 0;
/// `FUSE_FSYNC_FDATASYNC`.
pub const FSYNC_FDATASYNC: u32 = 1 << 0;
/// `FATTR_SIZE` in `fuse_setattr_in.valid`.
pub const FATTR_SIZE: u32 = 1 << 3;

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_ne_bytes());
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

/// `struct fuse_in_header`: what precedes every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InHeader {
    /// Length of the whole request, header included.
    pub len: u32,
    pub opcode: u32,
    pub unique: u64,
    pub nodeid: u64,
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
}

impl InHeader {
    /// `None` when `b` is shorter than the header (padding included).
    pub fn decode(b: &[u8]) -> Option<InHeader> {
        if b.len() < IN_HEADER_SIZE {
            return None;
        }
        Some(InHeader {
            len: u32_at(b, 0)?,
            opcode: u32_at(b, 4)?,
            unique: u64_at(b, 8)?,
            nodeid: u64_at(b, 16)?,
            uid: u32_at(b, 24)?,
            gid: u32_at(b, 28)?,
            pid: u32_at(b, 32)?,
        })
    }

    pub fn encode(&self) -> [u8; IN_HEADER_SIZE] {
        let mut b = [0u8; IN_HEADER_SIZE];
        put_u32(&mut b, 0, self.len);
        put_u32(&mut b, 4, self.opcode);
        put_u64(&mut b, 8, self.unique);
        put_u64(&mut b, 16, self.nodeid);
        put_u32(&mut b, 24, self.uid);
        put_u32(&mut b, 28, self.gid);
        put_u32(&mut b, 32, self.pid);
        b
    }
}

/// `struct fuse_out_header` with `len` = header + `body_len`, `error` = `-errno` or 0.
pub fn out_header(unique: u64, error: i32, body_len: usize) -> [u8; OUT_HEADER_SIZE] {
    let mut b = [0u8; OUT_HEADER_SIZE];
    put_u32(&mut b, 0, (OUT_HEADER_SIZE + body_len) as u32);
    put_u32(&mut b, 4, error as u32);
    put_u64(&mut b, 8, unique);
    b
}

/// The fields of `struct fuse_init_in` this server reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitIn {
    pub major: u32,
    pub minor: u32,
    pub max_readahead: u32,
    pub flags: u32,
    /// High 32 bits of the flags (only with `FUSE_INIT_EXT`; 0 otherwise).
    pub flags2: u32,
}

impl InitIn {
    pub fn decode(b: &[u8]) -> Option<InitIn> {
        let flags = u32_at(b, 12)?;
        let flags2 = if flags & init_flags::INIT_EXT != 0 {
            u32_at(b, 16).unwrap_or(0)
        } else {
            0
        };
        Some(InitIn {
            major: u32_at(b, 0)?,
            minor: u32_at(b, 4)?,
            max_readahead: u32_at(b, 8)?,
            flags,
            flags2,
        })
    }

    pub fn encode(&self) -> [u8; INIT_IN_SIZE] {
        let mut b = [0u8; INIT_IN_SIZE];
        put_u32(&mut b, 0, self.major);
        put_u32(&mut b, 4, self.minor);
        put_u32(&mut b, 8, self.max_readahead);
        put_u32(&mut b, 12, self.flags);
        put_u32(&mut b, 16, self.flags2);
        b
    }
}

/// `struct fuse_init_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InitOut {
    pub major: u32,
    pub minor: u32,
    pub max_readahead: u32,
    pub flags: u32,
    pub max_background: u16,
    pub congestion_threshold: u16,
    pub max_write: u32,
    pub time_gran: u32,
    pub max_pages: u16,
    pub map_alignment: u16,
    pub flags2: u32,
}

impl InitOut {
    pub fn encode(&self) -> [u8; INIT_OUT_SIZE] {
        let mut b = [0u8; INIT_OUT_SIZE];
        put_u32(&mut b, 0, self.major);
        put_u32(&mut b, 4, self.minor);
        put_u32(&mut b, 8, self.max_readahead);
        put_u32(&mut b, 12, self.flags);
        put_u16(&mut b, 16, self.max_background);
        put_u16(&mut b, 18, self.congestion_threshold);
        put_u32(&mut b, 20, self.max_write);
        put_u32(&mut b, 24, self.time_gran);
        put_u16(&mut b, 28, self.max_pages);
        put_u16(&mut b, 30, self.map_alignment);
        put_u32(&mut b, 32, self.flags2);
        b
    }

    pub fn decode(b: &[u8]) -> Option<InitOut> {
        Some(InitOut {
            major: u32_at(b, 0)?,
            minor: u32_at(b, 4)?,
            max_readahead: u32_at(b, 8)?,
            flags: u32_at(b, 12)?,
            max_background: u16_at(b, 16)?,
            congestion_threshold: u16_at(b, 18)?,
            max_write: u32_at(b, 20)?,
            time_gran: u32_at(b, 24)?,
            max_pages: u16_at(b, 28)?,
            map_alignment: u16_at(b, 30)?,
            flags2: u32_at(b, 32)?,
        })
    }
}

/// `struct fuse_attr` (times are all 0: the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attr {
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub blksize: u32,
}

impl Attr {
    pub fn encode_into(&self, b: &mut [u8]) {
        put_u64(b, 0, self.ino);
        put_u64(b, 8, self.size);
        put_u64(b, 16, self.blocks);
        // atime, mtime, ctime (24..48) and their nsec (48..60) stay 0
        put_u32(b, 60, self.mode);
        put_u32(b, 64, self.nlink);
        put_u32(b, 68, self.uid);
        put_u32(b, 72, self.gid);
        // rdev 76
        put_u32(b, 80, self.blksize);
        // flags 84
    }

    pub fn decode(b: &[u8]) -> Option<Attr> {
        Some(Attr {
            ino: u64_at(b, 0)?,
            size: u64_at(b, 8)?,
            blocks: u64_at(b, 16)?,
            mode: u32_at(b, 60)?,
            nlink: u32_at(b, 64)?,
            uid: u32_at(b, 68)?,
            gid: u32_at(b, 72)?,
            blksize: u32_at(b, 80)?,
        })
    }
}

/// `struct fuse_entry_out` for `attr`, valid for `valid_secs` seconds.
pub fn entry_out(attr: &Attr, valid_secs: u64) -> [u8; ENTRY_OUT_SIZE] {
    let mut b = [0u8; ENTRY_OUT_SIZE];
    put_u64(&mut b, 0, attr.ino); // nodeid
    put_u64(&mut b, 8, 0); // generation
    put_u64(&mut b, 16, valid_secs); // entry_valid
    put_u64(&mut b, 24, valid_secs); // attr_valid
    attr.encode_into(&mut b[40..]);
    b
}

/// `struct fuse_attr_out` for `attr`, valid for `valid_secs` seconds.
pub fn attr_out(attr: &Attr, valid_secs: u64) -> [u8; ATTR_OUT_SIZE] {
    let mut b = [0u8; ATTR_OUT_SIZE];
    put_u64(&mut b, 0, valid_secs);
    attr.encode_into(&mut b[16..]);
    b
}

/// `struct fuse_open_out`.
pub fn open_out(fh: u64, open_flags: u32) -> [u8; OPEN_OUT_SIZE] {
    let mut b = [0u8; OPEN_OUT_SIZE];
    put_u64(&mut b, 0, fh);
    put_u32(&mut b, 8, open_flags);
    b
}

/// `struct fuse_write_out`.
pub fn write_out(size: u32) -> [u8; WRITE_OUT_SIZE] {
    let mut b = [0u8; WRITE_OUT_SIZE];
    put_u32(&mut b, 0, size);
    b
}

/// `struct fuse_kstatfs`: a filesystem of `blocks` blocks of `bsize` bytes, all used.
pub fn statfs_out(blocks: u64, bsize: u32, files: u64) -> [u8; STATFS_OUT_SIZE] {
    let mut b = [0u8; STATFS_OUT_SIZE];
    put_u64(&mut b, 0, blocks);
    // bfree, bavail 8..24 = 0
    put_u64(&mut b, 24, files);
    // ffree 32 = 0
    put_u32(&mut b, 40, bsize);
    put_u32(&mut b, 44, 255); // namelen
    put_u32(&mut b, 48, bsize); // frsize
    b
}

/// `struct fuse_read_in`'s offset and size.
pub fn read_in(b: &[u8]) -> Option<(u64, u32)> {
    Some((u64_at(b, 8)?, u32_at(b, 16)?))
}

/// `struct fuse_write_in`'s offset, size and write_flags.
pub fn write_in(b: &[u8]) -> Option<(u64, u32, u32)> {
    Some((u64_at(b, 8)?, u32_at(b, 16)?, u32_at(b, 20)?))
}

/// Appends one `struct fuse_dirent` (padded to 8 bytes) to `out`.
pub fn push_dirent(out: &mut Vec<u8>, ino: u64, off: u64, kind: u32, name: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&ino.to_ne_bytes());
    out.extend_from_slice(&off.to_ne_bytes());
    out.extend_from_slice(&(name.len() as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(name);
    let len = out.len() - start;
    out.resize(start + len.div_ceil(8) * 8, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Offsets below are those of the kernel's uapi header (7.36+), counted by hand from
    // the struct definitions: each test writes a distinct value per field and reads it
    // back at the kernel's offset.

    #[test]
    fn in_header_layout() {
        let h = InHeader {
            len: 0x11,
            opcode: 0x22,
            unique: 0x33,
            nodeid: 0x44,
            uid: 0x55,
            gid: 0x66,
            pid: 0x77,
        };
        let b = h.encode();
        assert_eq!(b.len(), 40);
        assert_eq!(u32_at(&b, 0), Some(0x11));
        assert_eq!(u32_at(&b, 4), Some(0x22));
        assert_eq!(u64_at(&b, 8), Some(0x33));
        assert_eq!(u64_at(&b, 16), Some(0x44));
        assert_eq!(u32_at(&b, 24), Some(0x55));
        assert_eq!(u32_at(&b, 28), Some(0x66));
        assert_eq!(u32_at(&b, 32), Some(0x77));
        assert_eq!(InHeader::decode(&b), Some(h));
        assert_eq!(
            InHeader::decode(&b[..36]),
            None,
            "padding is part of the header"
        );
    }

    #[test]
    fn out_header_layout() {
        let b = out_header(0x1234, -5, 8);
        assert_eq!(b.len(), 16);
        assert_eq!(u32_at(&b, 0), Some(24));
        assert_eq!(u32_at(&b, 4), Some((-5i32) as u32));
        assert_eq!(u64_at(&b, 8), Some(0x1234));
    }

    #[test]
    fn init_out_layout() {
        let o = InitOut {
            major: 7,
            minor: 36,
            max_readahead: 0x1000,
            flags: 0xabcd,
            max_background: 0x40,
            congestion_threshold: 0x30,
            max_write: 1 << 20,
            time_gran: 1,
            max_pages: 256,
            map_alignment: 0,
            flags2: 0x5,
        };
        let b = o.encode();
        assert_eq!(b.len(), 64);
        assert_eq!(u32_at(&b, 12), Some(0xabcd));
        assert_eq!(u16_at(&b, 16), Some(0x40));
        assert_eq!(u16_at(&b, 18), Some(0x30));
        assert_eq!(u32_at(&b, 20), Some(1 << 20));
        assert_eq!(u32_at(&b, 24), Some(1));
        assert_eq!(u16_at(&b, 28), Some(256));
        assert_eq!(u32_at(&b, 32), Some(5));
        assert!(b[36..].iter().all(|&x| x == 0), "unused[7] is zero");
        assert_eq!(InitOut::decode(&b), Some(o));
    }

    #[test]
    fn init_in_layout() {
        let i = InitIn {
            major: 7,
            minor: 44,
            max_readahead: 0x20000,
            flags: init_flags::INIT_EXT | init_flags::ASYNC_DIO,
            flags2: 0x9,
        };
        let b = i.encode();
        assert_eq!(b.len(), 64);
        assert_eq!(u32_at(&b, 16), Some(9));
        assert_eq!(InitIn::decode(&b), Some(i));
        // Without FUSE_INIT_EXT flags2 is not read (older kernels send 16 bytes).
        let old = InitIn { flags: 0, ..i };
        assert_eq!(
            InitIn::decode(&old.encode()[..16]),
            Some(InitIn { flags2: 0, ..old })
        );
    }

    #[test]
    fn attr_and_entry_layout() {
        let a = Attr {
            ino: 2,
            size: 0x1_0000_0000,
            blocks: 0x80_0000,
            mode: 0o100600,
            nlink: 1,
            uid: 3,
            gid: 4,
            blksize: 4096,
        };
        let e = entry_out(&a, 60);
        assert_eq!(e.len(), 128);
        assert_eq!(u64_at(&e, 0), Some(2)); // nodeid
        assert_eq!(u64_at(&e, 16), Some(60)); // entry_valid
        assert_eq!(u64_at(&e, 24), Some(60)); // attr_valid
        assert_eq!(u64_at(&e, 40 + 8), Some(0x1_0000_0000)); // attr.size
        assert_eq!(u32_at(&e, 40 + 60), Some(0o100600)); // attr.mode
        assert_eq!(u32_at(&e, 40 + 80), Some(4096)); // attr.blksize
        assert_eq!(Attr::decode(&e[40..]), Some(a));
        let o = attr_out(&a, 7);
        assert_eq!(o.len(), 104);
        assert_eq!(u64_at(&o, 0), Some(7));
        assert_eq!(Attr::decode(&o[16..]), Some(a));
    }

    #[test]
    fn io_struct_layouts() {
        // fuse_write_in: fh 0, offset 8, size 16, write_flags 20, lock_owner 24, flags 32.
        let mut w = [0u8; WRITE_IN_SIZE];
        put_u64(&mut w, 0, 9);
        put_u64(&mut w, 8, 0x1000);
        put_u32(&mut w, 16, 512);
        put_u32(&mut w, 20, 1);
        assert_eq!(write_in(&w), Some((0x1000, 512, 1)));
        assert_eq!(write_in(&w[..20]), None);
        // fuse_read_in: fh 0, offset 8, size 16, read_flags 20, lock_owner 24, flags 32.
        assert_eq!(read_in(&w), Some((0x1000, 512)));
        assert_eq!(READ_IN_SIZE, 40);
        assert_eq!(open_out(5, FOPEN_DIRECT_IO)[8], 1);
        assert_eq!(write_out(4096).len(), 8);
        let s = statfs_out(100, 4096, 1);
        assert_eq!(s.len(), 80);
        assert_eq!(u32_at(&s, 40), Some(4096));
        let mut d = Vec::new();
        push_dirent(&mut d, 2, 3, 8, b"data");
        assert_eq!(d.len(), 32); // 24 + 4 rounded up to 8
        assert_eq!(u32_at(&d, 16), Some(4));
        assert_eq!(&d[DIRENT_NAME_OFFSET..DIRENT_NAME_OFFSET + 4], b"data");
    }
}
