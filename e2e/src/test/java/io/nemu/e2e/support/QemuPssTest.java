package io.nemu.e2e.support;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The split of QEMU's smaps into guest RAM, TCG code cache and the rest, on smaps text as QEMU 7.2 maps it. */
class QemuPssTest {
    private static String mapping(String header, long sizeKib, long pssKib) {
        return header + "\nSize:           " + sizeKib + " kB\nKernelPageSize:        4 kB\nRss:            "
                + pssKib + " kB\nPss:            " + pssKib + " kB\nShared_Clean:          0 kB\n";
    }

    private static final String BINARY = mapping(
            "55dfc0456000-55dfc09ed000 r-xp 00407000 fe:00 2170899                    /usr/bin/qemu-system-x86_64",
            5724, 3000);
    private static final String HEAP = mapping("55e0000e7000-55e000f4c000 rw-p 00000000 00:00 0          [heap]",
            14740, 9000);
    private static final String MEMFD_RAM = mapping("7f76bffff000-7f76cffff000 rw-s 00000000 00:01 2715"
            + "                       /memfd:memory-backend-memfd (deleted)", 262144, 100000);
    // tb-size=64: one rwx mapping, here split at a region guard page.
    private static final String CODE = mapping("7fdb40000000-7fdb41fff000 rwxp 00000000 00:00 0 ", 32764, 20000)
            + mapping("7fdb41fff000-7fdb42000000 ---p 00000000 00:00 0 ", 4, 0)
            + mapping("7fdb42000000-7fdb43fff000 rwxp 00000000 00:00 0 ", 32764, 10000);
    private static final String ANON = mapping("7f7716dba000-7f77175ba000 rw-p 00000000 00:00 0 ", 8192, 500);

    @Test
    void memfdRamCodeCacheAndRest() {
        QemuPss p = QemuPss.parse(BINARY + HEAP + MEMFD_RAM + CODE + ANON, 262144);
        assertEquals(100000, p.guestRamKib());
        assertEquals(30000, p.codeCacheKib());
        assertEquals(3000 + 9000 + 500, p.restKib());
        assertEquals(142500, p.totalKib());
    }

    @Test
    void anonymousRamIsRecognisedBySizeOnly() {
        String anonRam = mapping("7f0000000000-7f0010000000 rw-p 00000000 00:00 0 ", 262144, 70000);
        QemuPss p = QemuPss.parse(BINARY + anonRam + ANON, 262144);
        assertEquals(70000, p.guestRamKib());
        assertEquals(3500, p.restKib());
        assertEquals(0, QemuPss.parse(BINARY + anonRam, 0).guestRamKib());
    }

    @Test
    void aClonesPrivateMappingOfTheTemplatesRamFileIsGuestRam() {
        String clone = mapping("7f0000000000-7f0010000000 rw-p 00000000 00:1a 77 /dev/shm/t/virt-1c-256m-0123/memory",
                262144, 30000);
        assertEquals(30000, QemuPss.parse(BINARY + clone + ANON, 262144).guestRamKib());
        String otherFile = mapping("7f0000000000-7f0010000000 rw-p 00000000 00:1a 77 /dev/shm/t/other", 262144, 30000);
        assertEquals(0, QemuPss.parse(BINARY + otherFile, 262144).guestRamKib());
    }

    @Test
    void splitWxViewsOfTheJitMemfdAreCodeCache() {
        String jit = mapping("7f0000000000-7f0004000000 rw-s 00000000 00:01 3 /memfd:tcg-jit (deleted)", 65536, 100)
                + mapping("7f1000000000-7f1004000000 r-xs 00000000 00:01 3 /memfd:tcg-jit (deleted)", 65536, 200);
        assertEquals(300, QemuPss.parse(jit + HEAP, 0).codeCacheKib());
    }

    @Test
    void fileBackedImageIsRest() {
        String image = mapping("7f2000000000-7f2008000000 r--p 00000000 fe:00 42 /opt/nemu/share/guest/root.img",
                131072, 4000);
        QemuPss p = QemuPss.parse(MEMFD_RAM + image, 262144);
        assertEquals(100000, p.guestRamKib());
        assertEquals(4000, p.restKib());
    }
}
