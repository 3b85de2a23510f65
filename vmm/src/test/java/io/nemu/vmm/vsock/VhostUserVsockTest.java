package io.nemu.vmm.vsock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Memory;
import io.nemu.vmm.vhostuser.GuestMemory;
import io.nemu.vmm.vhostuser.Libc;
import io.nemu.vmm.vhostuser.VhostUserBackend;
import io.nemu.vmm.vhostuser.VhostUserSocket;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The backend with this test as its frontend and guest driver: real vhost-user messages with fds
 * (a memfd as guest RAM, eventfds for kicks and calls), virtqueues laid out in that memfd.
 */
class VhostUserVsockTest {
    static final int GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, SET_MEM_TABLE = 5, SET_VRING_NUM = 8,
            SET_VRING_ADDR = 9, SET_VRING_BASE = 10, GET_VRING_BASE = 11, SET_VRING_KICK = 12, SET_VRING_CALL = 13,
            GET_PROTOCOL_FEATURES = 15, SET_PROTOCOL_FEATURES = 16, SET_VRING_ENABLE = 18, GET_CONFIG = 24;
    static final long RAM = 1 << 20;
    static final long UVA = 0x7f0000000000L;
    static final int QSIZE = 8;
    static final long GUEST_CID = 3;

    @TempDir
    Path tmp;
    VhostUserVsock backend;
    VhostUserSocket front;
    GuestMemory.Backing ram;
    ByteBuffer mem;
    final Memory scratch = new Memory(16);
    int memfd = -1;

    @AfterEach
    void tearDown() {
        if (front != null) {
            front.close();
        }
        if (backend != null) {
            backend.close();
        }
        if (ram != null) {
            ram.release();
        }
        Libc.closeQuietly(memfd);
    }

    void start(String name) throws IOException {
        backend = VhostUserVsock.start(name, tmp.resolve(name + ".vu"), tmp.resolve(name + ".vsock"), GUEST_CID);
        front = VhostUserSocket.connect(tmp.resolve(name + ".vu"));
    }

    void send(int request, int flags, ByteBuffer body, int... fds) throws IOException {
        body.flip();
        ByteBuffer m = ByteBuffer.allocate(12 + body.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        m.putInt(request).putInt(1 | flags).putInt(body.remaining()).put(body).flip();
        front.send(m, fds);
    }

    ByteBuffer reply(int request) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        assertTrue(front.readFully(h), "backend closed instead of replying to " + request);
        h.flip();
        assertEquals(request, h.getInt());
        assertEquals(0x5, h.getInt(), "reply flags");
        ByteBuffer b = ByteBuffer.allocate(h.getInt()).order(ByteOrder.LITTLE_ENDIAN);
        front.readFully(b);
        return b.flip();
    }

    static ByteBuffer body(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    void vringState(int request, int index, int value) throws IOException {
        send(request, 0, body(8).putInt(index).putInt(value));
    }

    // Layout of queue q in guest RAM (gpa == offset in the memfd).
    static long desc(int q) {
        return 0x1000L + q * 0x1000L;
    }

    static long avail(int q) {
        return desc(q) + 16 * QSIZE;
    }

    static long used(int q) {
        return desc(q) + 0x800;
    }

    static long buf(int q, int i) {
        return 0x10000L + q * 0x20000L + i * 0x2000L;
    }

    int negotiate() throws IOException {
        send(GET_FEATURES, 0, body(0));
        long f = reply(GET_FEATURES).getLong();
        assertEquals(VhostUserBackend.VIRTIO_F_VERSION_1 | VhostUserBackend.F_PROTOCOL_FEATURES, f);
        send(SET_FEATURES, 0, body(8).putLong(f));
        send(GET_PROTOCOL_FEATURES, 0, body(0));
        long p = reply(GET_PROTOCOL_FEATURES).getLong();
        assertTrue((p & (1 << 9)) != 0, "CONFIG protocol feature offered");
        send(SET_PROTOCOL_FEATURES, 0, body(8).putLong((1 << 9) | (1 << 3)));
        send(SET_OWNER, 0x8, body(0));
        assertEquals(0, reply(SET_OWNER).getLong(), "REPLY_ACK of SET_OWNER");
        send(GET_CONFIG, 0, body(20).putInt(0).putInt(8).putInt(0).putLong(0));
        ByteBuffer cfg = reply(GET_CONFIG);
        assertEquals(GUEST_CID, cfg.getLong(12));
        return 0;
    }

    int[] setUpQueues() throws IOException {
        memfd = Libc.C.memfd_create("vsock-test-ram", 0);
        Libc.C.ftruncate(memfd, RAM);
        ram = GuestMemory.map(memfd, RAM, 0);
        mem = ram.view(0, (int) RAM);
        sendMemTable();
        int[] efds = new int[4];
        for (int q = 0; q < 2; q++) {
            vringState(SET_VRING_NUM, q, QSIZE);
            vringState(SET_VRING_BASE, q, 0);
            send(SET_VRING_ADDR, 0, body(40).putInt(q).putInt(0).putLong(UVA + desc(q)).putLong(UVA + used(q))
                    .putLong(UVA + avail(q)).putLong(0));
            int kick = Libc.C.eventfd(0, Libc.EFD_CLOEXEC);
            int call = Libc.C.eventfd(0, Libc.EFD_CLOEXEC);
            send(SET_VRING_CALL, 0, body(8).putLong(q), call);
            send(SET_VRING_KICK, 0, body(8).putLong(q), kick);
            vringState(SET_VRING_ENABLE, q, 1);
            efds[2 * q] = kick;
            efds[2 * q + 1] = call;
        }
        return efds;
    }

    void sendMemTable() throws IOException {
        send(SET_MEM_TABLE, 0, body(40).putInt(1).putInt(0).putLong(0).putLong(RAM).putLong(UVA).putLong(0), memfd);
    }

    int availIdx(int q) {
        return Short.toUnsignedInt(mem.getShort((int) avail(q) + 2));
    }

    /** Makes buffer i of queue q available: writable (rx) or readable with {@code data} (tx). */
    void post(int q, int i, byte[] data, int[] efds) throws IOException {
        int d = (int) desc(q) + 16 * i;
        mem.putLong(d, buf(q, i)).putInt(d + 8, data == null ? 4096 : data.length)
                .putShort(d + 12, (short) (data == null ? 2 : 0)).putShort(d + 14, (short) 0);
        if (data != null) {
            mem.put((int) buf(q, i), data);
        }
        int idx = availIdx(q);
        mem.putShort((int) avail(q) + 4 + 2 * (idx % QSIZE), (short) i);
        mem.putShort((int) avail(q) + 2, (short) (idx + 1));
        Libc.eventfdWrite(efds[2 * q], scratch, 1);
    }

    /** Waits for used entry {@code n} of queue q; returns (head, len). */
    int[] awaitUsed(int q, int n) throws InterruptedException {
        for (int i = 0; i < 500; i++) {
            if (Short.toUnsignedInt(mem.getShort((int) used(q) + 2)) > n) {
                int o = (int) used(q) + 4 + 8 * n;
                return new int[] {mem.getInt(o), mem.getInt(o + 4)};
            }
            Thread.sleep(10);
        }
        throw new AssertionError("no used entry " + n + " on queue " + q);
    }

    VsockHeader rxPacket(int[] used) {
        return VsockHeader.parse(mem.slice((int) buf(0, used[0]), VsockHeader.SIZE));
    }

    byte[] packet(int op, int srcPort, int dstPort, byte[] payload) {
        return packet(op, srcPort, dstPort, payload, 65536, 0);
    }

    byte[] packet(int op, int srcPort, int dstPort, byte[] payload, int bufAlloc, int fwdCnt) {
        VsockHeader h = new VsockHeader(GUEST_CID, 2, srcPort, dstPort, payload.length, VsockHeader.TYPE_STREAM, op, 0,
                bufAlloc, fwdCnt);
        ByteBuffer b = ByteBuffer.allocate(VsockHeader.SIZE + payload.length);
        h.write(b);
        return b.put(payload).array();
    }

    static String readLine(SocketChannel c) throws IOException {
        StringBuilder sb = new StringBuilder();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (c.read(one.clear()) > 0 && one.get(0) != '\n') {
            sb.append((char) one.get(0));
        }
        return sb.toString();
    }

    @Test
    void hostConnectHandshakeAndDataBothWays() throws Exception {
        start("ok");
        // Both sockets are owner-only (root: QEMU and the shim).
        for (String name : new String[] {"ok.vu", "ok.vsock"}) {
            assertEquals("rw-------", io.nemu.vmm.PrivateFiles.mode(tmp.resolve(name)), name);
        }
        negotiate();
        int[] efds = setUpQueues();
        for (int i = 0; i < 4; i++) {
            post(0, i, null, efds);
        }
        SocketChannel host = SocketChannel.open(StandardProtocolFamily.UNIX);
        host.connect(UnixDomainSocketAddress.of(tmp.resolve("ok.vsock")));
        host.write(ByteBuffer.wrap("CONNECT 1024\n".getBytes(StandardCharsets.US_ASCII)));

        VsockHeader req = rxPacket(awaitUsed(0, 0));
        assertEquals(VsockHeader.OP_REQUEST, req.op());
        assertEquals(2, req.srcCid());
        assertEquals(GUEST_CID, req.dstCid());
        assertEquals(1024, req.dstPort());
        int hostPort = req.srcPort();

        post(1, 0, packet(VsockHeader.OP_RESPONSE, 1024, hostPort, new byte[0]), efds);
        assertEquals("OK " + Integer.toUnsignedString(hostPort), readLine(host));

        host.write(ByteBuffer.wrap("ping".getBytes(StandardCharsets.US_ASCII)));
        int[] u = awaitUsed(0, 1);
        VsockHeader rw = rxPacket(u);
        assertEquals(VsockHeader.OP_RW, rw.op());
        assertEquals(4, rw.len());
        assertEquals(VsockHeader.SIZE + 4, u[1]);
        byte[] got = new byte[4];
        mem.get((int) buf(0, u[0]) + VsockHeader.SIZE, got);
        assertEquals("ping", new String(got, StandardCharsets.US_ASCII));

        post(1, 1, packet(VsockHeader.OP_RW, 1024, hostPort, "pong".getBytes(StandardCharsets.US_ASCII)), efds);
        ByteBuffer in = ByteBuffer.allocate(4);
        while (in.hasRemaining()) {
            host.read(in);
        }
        assertEquals("pong", new String(in.array(), StandardCharsets.US_ASCII));
        assertEquals(1, backend.connectionCount());

        // A new memory table while the queues run (memory hotplug): the queues move over, data still flows.
        sendMemTable();
        post(1, 3, packet(VsockHeader.OP_RW, 1024, hostPort, "after".getBytes(StandardCharsets.US_ASCII)), efds);
        ByteBuffer in2 = ByteBuffer.allocate(5);
        while (in2.hasRemaining()) {
            host.read(in2);
        }
        assertEquals("after", new String(in2.array(), StandardCharsets.US_ASCII));

        // A packet for a connection that does not exist gets a RST back.
        post(1, 2, packet(VsockHeader.OP_RW, 5555, 6666, "x".getBytes(StandardCharsets.US_ASCII)), efds);
        VsockHeader rst = rxPacket(awaitUsed(0, 2));
        assertEquals(VsockHeader.OP_RST, rst.op());
        assertEquals(6666, rst.srcPort());
        assertEquals(5555, rst.dstPort());

        // GET_VRING_BASE stops a queue and reports where it was.
        vringState(GET_VRING_BASE, 1, 0);
        assertEquals(4, reply(GET_VRING_BASE).getInt(4));

        // The frontend going away ends the device: the host client sees EOF, the mapping goes.
        front.close();
        front = null;
        backend.terminated().get(5, TimeUnit.SECONDS);
        assertEquals(-1, host.read(ByteBuffer.allocate(1)));
        host.close();
        for (int fd : efds) {
            Libc.closeQuietly(fd);
        }
        assertEquals(0, Files.readAllLines(Path.of("/proc/self/maps")).stream()
                .filter(l -> l.contains("memfd:vsock-test-ram")).count() - 1, "only the test's own mapping is left");
    }

    @Test
    void hostSendsNoMoreThanTheGuestsCredit() throws Exception {
        start("credit");
        negotiate();
        int[] efds = setUpQueues();
        for (int i = 0; i < 6; i++) {
            post(0, i, null, efds);
        }
        SocketChannel host = SocketChannel.open(StandardProtocolFamily.UNIX);
        host.connect(UnixDomainSocketAddress.of(tmp.resolve("credit.vsock")));
        host.write(ByteBuffer.wrap("CONNECT 2000\n".getBytes(StandardCharsets.US_ASCII)));
        int hostPort = rxPacket(awaitUsed(0, 0)).srcPort();
        // The guest has room for 8 bytes.
        post(1, 0, packet(VsockHeader.OP_RESPONSE, 2000, hostPort, new byte[0], 8, 0), efds);
        assertEquals("OK " + Integer.toUnsignedString(hostPort), readLine(host));
        host.write(ByteBuffer.wrap("abcdefghijklmnopqrst".getBytes(StandardCharsets.US_ASCII)));

        int[] u = awaitUsed(0, 1);
        assertEquals(VsockHeader.OP_RW, rxPacket(u).op());
        assertEquals(8, rxPacket(u).len());
        byte[] got = new byte[8];
        mem.get((int) buf(0, u[0]) + VsockHeader.SIZE, got);
        assertEquals("abcdefgh", new String(got, StandardCharsets.US_ASCII));
        // Out of credit with data waiting: ask the guest for an update, and send nothing more.
        assertEquals(VsockHeader.OP_CREDIT_REQUEST, rxPacket(awaitUsed(0, 2)).op());
        Thread.sleep(200);
        assertEquals(3, Short.toUnsignedInt(mem.getShort((int) used(0) + 2)), "packets beyond the credit");

        // The guest consumed the 8 bytes: 8 more may come.
        post(1, 1, packet(VsockHeader.OP_CREDIT_UPDATE, 2000, hostPort, new byte[0], 8, 8), efds);
        u = awaitUsed(0, 3);
        assertEquals(8, rxPacket(u).len());
        mem.get((int) buf(0, u[0]) + VsockHeader.SIZE, got);
        assertEquals("ijklmnop", new String(got, StandardCharsets.US_ASCII));
        host.close();
        for (int fd : efds) {
            Libc.closeQuietly(fd);
        }
    }

    @Test
    void malformedMessageClosesOnlyThatDevice() throws Exception {
        start("bad");
        VhostUserVsock other = VhostUserVsock.start("good", tmp.resolve("good.vu"), tmp.resolve("good.vsock"), 4);
        try (VhostUserSocket otherFront = VhostUserSocket.connect(tmp.resolve("good.vu"))) {
            negotiate();
            send(SET_VRING_NUM, 0, body(3).put((byte) 1).put((byte) 2).put((byte) 3));
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> backend.terminated().get(5, TimeUnit.SECONDS));
            assertEquals("request 8: body of 3 bytes, expected 8", e.getCause().getMessage());
            assertEquals(false, front.readFully(ByteBuffer.allocate(1)), "connection closed by the backend");
            assertTrue(Files.notExists(tmp.resolve("bad.vsock")), "hybrid socket of the closed device removed");

            // The other device is untouched.
            ByteBuffer m = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putInt(GET_FEATURES).putInt(1).putInt(0);
            otherFront.send(m.flip());
            ByteBuffer r = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN);
            assertTrue(otherFront.readFully(r));
            assertEquals(VhostUserBackend.VIRTIO_F_VERSION_1 | VhostUserBackend.F_PROTOCOL_FEATURES, r.getLong(12));
            assertTrue(Files.exists(tmp.resolve("good.vsock")));
        } finally {
            other.close();
        }
    }

    @Test
    void unknownRequestAndBadRegionsAreNamed() throws Exception {
        start("unk");
        send(9999, 0, body(0));
        ExecutionException e = assertThrows(ExecutionException.class, () -> backend.terminated().get(5, TimeUnit.SECONDS));
        assertEquals("unknown or unsupported request 9999 (body 0 bytes)", e.getCause().getMessage());
        front.close();
        backend.close();

        start("mem");
        send(SET_MEM_TABLE, 0, body(40).putInt(1).putInt(0).putLong(0).putLong(RAM).putLong(UVA).putLong(0));
        e = assertThrows(ExecutionException.class, () -> backend.terminated().get(5, TimeUnit.SECONDS));
        assertEquals("request 5: 0 fds attached, expected 1", e.getCause().getMessage());
    }
}
