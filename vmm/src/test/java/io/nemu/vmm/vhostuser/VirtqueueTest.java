package io.nemu.vmm.vhostuser;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The split virtqueue against a plain buffer standing in for guest RAM. */
class VirtqueueTest {
    static final long RAM_GPA = 0x10000;
    static final int RAM_SIZE = 1 << 16;
    static final long DESC = RAM_GPA;
    static final long AVAIL = RAM_GPA + 0x1000;
    static final long USED = RAM_GPA + 0x2000;
    static final long DATA = RAM_GPA + 0x4000;
    static final int SIZE = 8;

    ByteBuffer ram;
    GuestMemory mem;

    @BeforeEach
    void setUp() {
        ram = ByteBuffer.allocate(RAM_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        mem = new GuestMemory(List.of(new GuestMemory.Region(RAM_GPA, RAM_SIZE, 0x7f0000000000L, GuestMemory.ofBuffer(ram))));
    }

    int off(long gpa) {
        return (int) (gpa - RAM_GPA);
    }

    void desc(int i, long addr, int len, int flags, int next) {
        int o = off(DESC) + 16 * i;
        ram.putLong(o, addr).putInt(o + 8, len).putShort(o + 12, (short) flags).putShort(o + 14, (short) next);
    }

    void makeAvailable(int... heads) {
        int idx = Short.toUnsignedInt(ram.getShort(off(AVAIL) + 2));
        for (int h : heads) {
            ram.putShort(off(AVAIL) + 4 + 2 * (idx % SIZE), (short) h);
            idx++;
        }
        ram.putShort(off(AVAIL) + 2, (short) idx);
    }

    Virtqueue queue() {
        return new Virtqueue(mem, SIZE, DESC, AVAIL, USED, 0);
    }

    @Test
    void chainedReadableAndWritableBuffers() {
        byte[] hello = "hello, ".getBytes(StandardCharsets.US_ASCII);
        byte[] world = "world".getBytes(StandardCharsets.US_ASCII);
        ram.put(off(DATA), hello);
        ram.put(off(DATA + 0x100), world);
        desc(3, DATA, hello.length, Virtqueue.F_NEXT, 5);
        desc(5, DATA + 0x100, world.length, Virtqueue.F_NEXT, 1);
        desc(1, DATA + 0x200, 4, Virtqueue.F_WRITE | Virtqueue.F_NEXT, 2);
        desc(2, DATA + 0x300, 16, Virtqueue.F_WRITE, 0);
        makeAvailable(3);
        Virtqueue q = queue();
        assertTrue(q.hasAvailable());
        DescriptorChain c = q.pop();
        assertEquals(3, c.head());
        assertEquals(12, c.readableLength());
        assertEquals(20, c.writableLength());
        ByteBuffer all = ByteBuffer.allocate(12);
        assertEquals(12, c.read(0, all));
        assertEquals("hello, world", new String(all.array(), StandardCharsets.US_ASCII));
        ByteBuffer tail = ByteBuffer.allocate(10);
        assertEquals(5, c.read(7, tail));
        // A write spanning both writable buffers lands in order.
        assertEquals(10, c.write(0, ByteBuffer.wrap("0123456789".getBytes(StandardCharsets.US_ASCII))));
        byte[] a = new byte[4];
        byte[] b = new byte[6];
        ram.get(off(DATA + 0x200), a);
        ram.get(off(DATA + 0x300), b);
        assertEquals("0123", new String(a, StandardCharsets.US_ASCII));
        assertEquals("456789", new String(b, StandardCharsets.US_ASCII));
        assertNull(q.pop());
        assertFalse(q.hasAvailable());
    }

    @Test
    void usedRingAndInterruptSuppression() {
        desc(0, DATA, 64, Virtqueue.F_WRITE, 0);
        desc(1, DATA + 64, 64, Virtqueue.F_WRITE, 0);
        makeAvailable(0, 1);
        Virtqueue q = queue();
        DescriptorChain c0 = q.pop();
        DescriptorChain c1 = q.pop();
        q.addUsed(c1.head(), 44);
        q.addUsed(c0.head(), 7);
        assertEquals(2, ram.getShort(off(USED) + 2));
        assertEquals(1, ram.getInt(off(USED) + 4));
        assertEquals(44, ram.getInt(off(USED) + 8));
        assertEquals(0, ram.getInt(off(USED) + 12));
        assertEquals(7, ram.getInt(off(USED) + 16));
        assertTrue(q.needsInterrupt());
        ram.putShort(off(AVAIL), (short) Virtqueue.AVAIL_F_NO_INTERRUPT);
        assertFalse(q.needsInterrupt());
        assertEquals(2, q.lastAvailIndex());
    }

    @Test
    void unpopGivesTheChainBack() {
        desc(0, DATA, 64, Virtqueue.F_WRITE, 0);
        makeAvailable(0);
        Virtqueue q = queue();
        assertEquals(0, q.pop().head());
        q.unpop();
        assertEquals(0, q.pop().head());
        assertNull(q.pop());
    }

    @Test
    void indexWrapsAt16Bits() {
        ram.putShort(off(AVAIL) + 2, (short) 0xffff);
        ram.putShort(off(USED) + 2, (short) 0xffff);
        desc(0, DATA, 8, 0, 0);
        Virtqueue q = new Virtqueue(mem, SIZE, DESC, AVAIL, USED, 0xffff);
        makeAvailable(0); // avail idx 0xffff -> 0
        DescriptorChain c = q.pop();
        assertEquals(0, c.head());
        q.addUsed(0, 0);
        assertEquals(0, q.lastAvailIndex());
        assertEquals(0, ram.getShort(off(USED) + 2));
    }

    @Test
    void badChainsAreRejectedWithTheReason() {
        Virtqueue q = queue();
        desc(0, DATA, 8, Virtqueue.F_NEXT, 1);
        desc(1, DATA, 8, Virtqueue.F_NEXT, 0);
        makeAvailable(0);
        assertTrue(assertThrows(Virtqueue.VirtqueueException.class, q::pop).getMessage().contains("loops"));

        setUp();
        q = queue();
        desc(0, DATA, 8, Virtqueue.F_NEXT, 9);
        makeAvailable(0);
        assertTrue(assertThrows(Virtqueue.VirtqueueException.class, q::pop).getMessage().contains("out of range"));

        setUp();
        q = queue();
        desc(0, RAM_GPA + RAM_SIZE - 4, 8, 0, 0);
        makeAvailable(0);
        assertTrue(assertThrows(Virtqueue.VirtqueueException.class, q::pop).getMessage()
                .contains("outside guest memory"));

        setUp();
        q = queue();
        desc(0, DATA, 16, Virtqueue.F_INDIRECT, 0);
        makeAvailable(0);
        assertTrue(assertThrows(Virtqueue.VirtqueueException.class, q::pop).getMessage().contains("indirect"));

        setUp();
        q = queue();
        desc(0, DATA, 8, Virtqueue.F_WRITE | Virtqueue.F_NEXT, 1);
        desc(1, DATA, 8, 0, 0);
        makeAvailable(0);
        assertTrue(assertThrows(Virtqueue.VirtqueueException.class, q::pop).getMessage()
                .contains("readable after a writable"));

        setUp();
        q = queue();
        ram.putShort(off(AVAIL) + 2, (short) (SIZE + 1));
        assertTrue(assertThrows(Virtqueue.VirtqueueException.class, q::pop).getMessage().contains("made 9 buffers"));
    }

    @Test
    void ringsMustFitGuestMemoryAndSizeBePowerOfTwo() {
        assertThrows(GuestMemory.GuestMemoryException.class,
                () -> new Virtqueue(mem, SIZE, RAM_GPA + RAM_SIZE - 8, AVAIL, USED, 0));
        assertThrows(IllegalArgumentException.class, () -> new Virtqueue(mem, 6, DESC, AVAIL, USED, 0));
        assertEquals(DESC, mem.uvaToGpa(0x7f0000000000L, 16));
        assertThrows(GuestMemory.GuestMemoryException.class, () -> mem.uvaToGpa(0x1000, 16));
    }
}
