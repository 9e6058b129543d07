"""extract_vmlinux.py BZIMAGE OUT: the uncompressed kernel (an ELF vmlinux).

Used by tests/kvmlab/run: the lab boots the unpacked kernel through its PVH
entry, which saves the seconds an emulated CPU takes to decompress a
bzImage. Finds the compressed payload by its magic (xz, gzip, bzip2, lzma),
writes the first one that inflates to an ELF to OUT and exits 0; exits 1
when none does (the lab then boots the bzImage).
"""
import bz2, lzma, sys, zlib
data = open(sys.argv[1], 'rb').read()
codecs = [
    (b'\xfd7zXZ\x00', lambda: lzma.LZMADecompressor()),
    (b'\x1f\x8b\x08', lambda: zlib.decompressobj(31)),
    (b'BZh', lambda: bz2.BZ2Decompressor()),
    (b'\x5d\x00\x00', lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE)),
]
for magic, new in codecs:
    at = data.find(magic)
    while at >= 0:
        try:
            out = new().decompress(data[at:])
        except Exception:
            out = b''
        if out[:4] == b'\x7fELF':
            open(sys.argv[2], 'wb').write(out)
            sys.exit(0)
        at = data.find(magic, at + 1)
sys.exit(1)
