package io.nemu.vmm.vsock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class VsockConnectionBufferTest {

    @Test
    void theHostSideBufferStartsSmallKeepsWhatItHeldAndGrowsNoFurtherThanTheCreditAllows() {
        ByteBuffer b = VsockConnection.room(null, 100);
        assertEquals(64 * 1024, b.capacity(), "a first leftover gets a small buffer");
        b.put(new byte[] {1, 2, 3});
        assertSame(b, VsockConnection.room(b, 1000), "room enough: the same buffer");
        ByteBuffer grown = VsockConnection.room(b, 200_000);
        assertEquals(256 * 1024, grown.capacity(), "doubled until it fits");
        assertEquals(3, grown.position());
        assertEquals(3, grown.get(2));
        grown.position(10);
        ByteBuffer full = VsockConnection.room(grown, VsockConnection.BUF_ALLOC - 10);
        assertEquals(VsockConnection.BUF_ALLOC, full.capacity(), "never beyond the guest's credit");
    }
}
