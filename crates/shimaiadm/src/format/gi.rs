//! The offline metadata views: `get-gi` (the generation identifiers and
//! flags in drbdmeta's one-line layout, which scripts split on `:`) and
//! `dump-md` (everything the superblock holds, for support).

use shimai_metadata::{MdFlags, Superblock};

/// `CURRENT:BITMAP:HISTORY1:HISTORY2:c:u:p:n:f:o:x`, the flags in
/// drbdmeta's order: consistent, was up to date, primary, connected,
/// full sync pending, peer outdated, crashed primary.
pub fn get_gi(sb: &Superblock) -> String {
    let f = sb.flags;
    let bit = |flag: MdFlags| u8::from(f.contains(flag));
    format!(
        "{:016X}:{:016X}:{:016X}:{:016X}:{}:{}:{}:{}:{}:{}:{}\n",
        sb.gi.current,
        sb.gi.bitmap,
        sb.gi.history[0],
        sb.gi.history[1],
        bit(MdFlags::CONSISTENT),
        bit(MdFlags::WAS_UP_TO_DATE),
        bit(MdFlags::PRIMARY_IND),
        bit(MdFlags::CONNECTED_IND),
        bit(MdFlags::FULL_SYNC),
        bit(MdFlags::PEER_OUT_DATED),
        bit(MdFlags::CRASHED_PRIMARY),
    )
}

/// What `dump-md` shows besides the superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdExtra {
    /// Set bits of the bitmap, in 4 KiB blocks.
    pub out_of_sync_blocks: u64,
    /// Activity-log extents that may hold writes in flight.
    pub hot_extents: Vec<u32>,
}

/// The superblock and its surroundings, one `key value;` per line.
pub fn dump_md(resource: &str, device: &str, sb: &Superblock, extra: &MdExtra) -> String {
    let l = &sb.layout;
    let hot: Vec<String> = extra.hot_extents.iter().map(u32::to_string).collect();
    format!(
        "# shimai metadata of {resource} on {device}\n\
         placement {};\n\
         sequence {};\n\
         generation {:016X}:{:016X}:{:016X}:{:016X};\n\
         flags {};\n\
         device-uuid {:016X};\n\
         data-size {}; # bytes, {} KiB\n\
         capacity {}; # bytes\n\
         md-offset {}; md-size {};\n\
         superblocks {} {};\n\
         activity-log {{ offset {}; transactions {}; al-extents {}; hot-extents {}; }}\n\
         bitmap {{ offset {}; size {}; out-of-sync {}; # KiB\n}}\n",
        l.placement,
        sb.seq,
        sb.gi.current,
        sb.gi.bitmap,
        sb.gi.history[0],
        sb.gi.history[1],
        sb.flags,
        sb.device_uuid,
        sb.data_size,
        sb.data_size / 1024,
        l.capacity,
        l.md_offset,
        l.md_size,
        l.sb_offsets[0],
        l.sb_offsets[1],
        l.al_offset,
        l.al_blocks,
        l.al_extents,
        if hot.is_empty() {
            "none".to_string()
        } else {
            hot.join(",")
        },
        l.bm_offset,
        l.bm_size,
        extra.out_of_sync_blocks * 4,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shimai_metadata::Layout;

    #[test]
    fn fresh_metadata_reads_as_drbdmeta_prints_it() {
        let layout = Layout::internal("/dev/x", 64 << 20, 1237).unwrap();
        let mut sb = Superblock::fresh(layout, 0xABCD);
        assert_eq!(
            get_gi(&sb),
            "0000000000000004:0000000000000000:0000000000000000:0000000000000000:0:0:0:0:0:0:0\n"
        );
        sb.flags.insert(MdFlags::CONSISTENT);
        sb.flags.insert(MdFlags::CONNECTED_IND);
        sb.flags.insert(MdFlags::CRASHED_PRIMARY);
        sb.gi.current = 0x5A8D6E8A2DA1C5A5;
        assert_eq!(
            get_gi(&sb),
            "5A8D6E8A2DA1C5A5:0000000000000000:0000000000000000:0000000000000000:1:0:0:1:0:0:1\n"
        );
        let text = dump_md(
            "r0",
            "/dev/x",
            &sb,
            &MdExtra {
                out_of_sync_blocks: 3,
                hot_extents: vec![0, 7],
            },
        );
        assert!(text.contains("placement internal;\n"), "{text}");
        assert!(
            text.contains("flags consistent|connected-ind|crashed-primary;"),
            "{text}"
        );
        assert!(text.contains("device-uuid 000000000000ABCD;"), "{text}");
        assert!(text.contains("hot-extents 0,7;"), "{text}");
        assert!(text.contains("out-of-sync 12; # KiB"), "{text}");
    }
}
