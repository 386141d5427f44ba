#!/usr/bin/env python3
"""A minimal iSCSI initiator for the iSCSI suites: libiscsi (libiscsi.so.7)
through ctypes, because libiscsi-bin has no tool that writes chosen data.

usage: client.py PORTAL IQN LUN write SEED BLOCKS
       client.py PORTAL IQN LUN verify SEED BLOCKS

write:  WRITE(16) with FUA of BLOCKS 512-byte blocks of SEED's pattern at
        LBA 0, then SYNCHRONIZE CACHE(10); exits 0 once both are acknowledged.
verify: READ(16) of the same blocks; exits 0 when they hold the pattern,
        3 when they do not.
Exit 2: no login (target unreachable, refused, not found); 1: a command failed.
"""
import ctypes
import hashlib
import sys

BLOCK = 512


class IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


def pattern(seed, blocks):
    out = bytearray()
    for i in range(blocks):
        h = hashlib.sha256(("%s:%d" % (seed, i)).encode()).digest()
        out += h * (BLOCK // len(h))
    return bytes(out)


def main():
    if len(sys.argv) != 7 or sys.argv[4] not in ("write", "verify"):
        print(__doc__, file=sys.stderr)
        return 64
    portal, iqn, lun, op, seed, blocks = sys.argv[1:]
    lun, blocks = int(lun), int(blocks)
    lib = ctypes.CDLL("libiscsi.so.7")
    lib.iscsi_create_context.restype = ctypes.c_void_p
    lib.iscsi_get_error.restype = ctypes.c_char_p
    lib.iscsi_get_error.argtypes = [ctypes.c_void_p]
    for f in ("iscsi_write16_sync", "iscsi_read16_iov_sync", "iscsi_synchronizecache10_sync"):
        getattr(lib, f).restype = ctypes.c_void_p
    lib.iscsi_write16_sync.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_char_p, ctypes.c_uint32,
        ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.iscsi_read16_iov_sync.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_int,
        ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
        ctypes.POINTER(IoVec), ctypes.c_int]
    lib.iscsi_synchronizecache10_sync.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.scsi_free_scsi_task.argtypes = [ctypes.c_void_p]
    for f in ("iscsi_set_targetname", "iscsi_full_connect_sync", "iscsi_set_session_type",
              "iscsi_set_timeout", "iscsi_logout_sync", "iscsi_destroy_context"):
        getattr(lib, f).argtypes = [ctypes.c_void_p] + {
            "iscsi_set_targetname": [ctypes.c_char_p],
            "iscsi_full_connect_sync": [ctypes.c_char_p, ctypes.c_int],
            "iscsi_set_session_type": [ctypes.c_int],
            "iscsi_set_timeout": [ctypes.c_int],
        }.get(f, [])

    ctx = lib.iscsi_create_context(b"iqn.2026-01.org.shimai.test:client")
    if not ctx:
        print("cannot create a libiscsi context", file=sys.stderr)
        return 1
    lib.iscsi_set_targetname(ctx, iqn.encode())
    lib.iscsi_set_session_type(ctx, 2)  # ISCSI_SESSION_NORMAL
    lib.iscsi_set_timeout(ctx, 10)
    if lib.iscsi_full_connect_sync(ctx, portal.encode(), lun) != 0:
        print("login to %s %s failed: %s" % (portal, iqn, lib.iscsi_get_error(ctx).decode()),
              file=sys.stderr)
        lib.iscsi_destroy_context(ctx)
        return 2

    def done(task, what):
        if not task:
            print("%s: %s" % (what, lib.iscsi_get_error(ctx).decode()), file=sys.stderr)
            return False
        status = ctypes.cast(task, ctypes.POINTER(ctypes.c_int))[0]
        lib.scsi_free_scsi_task(task)
        if status != 0:
            print("%s: SCSI status %d: %s" % (what, status, lib.iscsi_get_error(ctx).decode()),
                  file=sys.stderr)
            return False
        return True

    data = pattern(seed, blocks)
    rc = 0
    if op == "write":
        buf = ctypes.create_string_buffer(data, len(data))
        t = lib.iscsi_write16_sync(ctx, lun, 0, buf, len(data), BLOCK, 0, 0, 1, 0, 0)
        if not done(t, "WRITE(16) FUA"):
            rc = 1
        elif not done(lib.iscsi_synchronizecache10_sync(ctx, lun, 0, 0, 0, 0),
                      "SYNCHRONIZE CACHE(10)"):
            rc = 1
    else:
        buf = ctypes.create_string_buffer(len(data))
        iov = IoVec(ctypes.cast(buf, ctypes.c_void_p), len(data))
        t = lib.iscsi_read16_iov_sync(ctx, lun, 0, len(data), BLOCK, 0, 0, 0, 0, 0,
                                      ctypes.byref(iov), 1)
        if not done(t, "READ(16)"):
            rc = 1
        elif buf.raw != data:
            print("the blocks read back differ from pattern %s" % seed, file=sys.stderr)
            rc = 3
    lib.iscsi_logout_sync(ctx)
    lib.iscsi_destroy_context(ctx)
    return rc


if __name__ == "__main__":
    sys.exit(main())
