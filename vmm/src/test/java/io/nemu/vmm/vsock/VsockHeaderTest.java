package io.nemu.vmm.vsock;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class VsockHeaderTest {
    /** A REQUEST from guest CID 3 port 0x40000001 to host port 1024, as the virtio spec lays it out. */
    static final String WIRE = "0300000000000000" // src_cid
            + "0200000000000000" // dst_cid
            + "01000040" // src_port
            + "00040000" // dst_port
            + "10000000" // len 16
            + "0100" // type stream
            + "0100" // op request
            + "03000000" // flags
            + "00000400" // buf_alloc 256 KiB
            + "ffffffff"; // fwd_cnt u32 max

    @Test
    void parsesTheWireLayout() {
        byte[] b = HexFormat.of().parseHex(WIRE);
        assertEquals(VsockHeader.SIZE, b.length);
        VsockHeader h = VsockHeader.parse(ByteBuffer.wrap(b));
        assertEquals(3, h.srcCid());
        assertEquals(2, h.dstCid());
        assertEquals(0x40000001, h.srcPort());
        assertEquals(1024, h.dstPort());
        assertEquals(16, h.len());
        assertEquals(VsockHeader.TYPE_STREAM, h.type());
        assertEquals(VsockHeader.OP_REQUEST, h.op());
        assertEquals(3, h.flags());
        assertEquals(256 * 1024, h.bufAlloc());
        assertEquals(0xffffffffL, Integer.toUnsignedLong(h.fwdCnt()));
        assertArrayEquals(b, h.toBuffer().array());
    }

    @Test
    void parsesAtThePositionAndWritesAdvancing() {
        byte[] b = new byte[50];
        System.arraycopy(HexFormat.of().parseHex(WIRE), 0, b, 6, 44);
        ByteBuffer buf = ByteBuffer.wrap(b).position(6);
        VsockHeader h = VsockHeader.parse(buf);
        assertEquals(6, buf.position());
        ByteBuffer out = ByteBuffer.allocate(50).position(3);
        h.write(out);
        assertEquals(47, out.position());
        assertEquals(h, VsockHeader.parse(out.position(3)));
    }

    @Test
    void shortBufferIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VsockHeader.parse(ByteBuffer.allocate(43)));
        assertEquals("vsock header needs 44 bytes, got 43", e.getMessage());
    }
}
