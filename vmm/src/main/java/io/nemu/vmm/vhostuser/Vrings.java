package io.nemu.vmm.vhostuser;

import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_VRING_CALL;
import static io.nemu.vmm.vhostuser.VhostUserMessage.SET_VRING_KICK;

import java.nio.ByteBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The device's virtqueues as the frontend sets them up, one message at a time: size, base, addresses,
 * kick and call fds, enable. A queue starts on the device once it has all of them and the memory table;
 * GET_VRING_BASE stops it again.
 */
final class Vrings {
    private static final Logger log = LoggerFactory.getLogger(Vrings.class);
    static final long VRING_FD_INVALID = 1L << 8;

    /** Per-queue setup state as the messages arrive. */
    private static final class Vring {
        int num;
        long descUva;
        long usedUva;
        long availUva;
        boolean addrSet;
        int base;
        int kickFd = -1;
        int callFd = -1;
        boolean enabled;
        boolean started;
    }

    private final String name;
    private final VhostUserDevice device;
    private final Vring[] vrings;
    private GuestMemory memory;
    /** Without VHOST_USER_F_PROTOCOL_FEATURES a queue runs without SET_VRING_ENABLE. */
    private boolean enableNeeded;

    Vrings(String name, VhostUserDevice device) {
        this.name = name;
        this.device = device;
        this.vrings = new Vring[device.queueCount()];
        for (int i = 0; i < vrings.length; i++) {
            vrings[i] = new Vring();
        }
    }

    int count() {
        return vrings.length;
    }

    void featuresAcked(long features) {
        enableNeeded = (features & VhostUserBackend.F_PROTOCOL_FEATURES) != 0;
    }

    void setMemory(GuestMemory m) {
        memory = m;
        for (int i = 0; i < vrings.length; i++) {
            maybeStart(i);
        }
    }

    void setNum(VhostUserMessage m) {
        m.expect(8, 0);
        int index = m.body().getInt(0);
        vring(m, index);
        int num = m.body().getInt(4);
        if (num < 1 || num > Virtqueue.MAX_SIZE || Integer.bitCount(num) != 1) {
            throw new VhostUserProtocolException("SET_VRING_NUM: size " + num + " is not a power of two up to "
                    + Virtqueue.MAX_SIZE);
        }
        idle(m, index).num = num;
    }

    void setBase(VhostUserMessage m) {
        m.expect(8, 0);
        Vring v = idle(m, m.body().getInt(0));
        int base = m.body().getInt(4);
        if (base < 0 || base > 0xffff) {
            throw new VhostUserProtocolException("SET_VRING_BASE: index " + base + " is not a 16-bit value");
        }
        v.base = base;
    }

    void setAddr(VhostUserMessage m) {
        m.expect(40, 0);
        int index = m.body().getInt(0);
        Vring v = idle(m, index);
        if ((m.body().getInt(4) & 1) != 0) {
            throw new VhostUserProtocolException("SET_VRING_ADDR: dirty logging requested but not offered");
        }
        v.descUva = m.body().getLong(8);
        v.usedUva = m.body().getLong(16);
        v.availUva = m.body().getLong(24);
        v.addrSet = true;
        maybeStart(index);
    }

    void setEnable(VhostUserMessage m) {
        m.expect(8, 0);
        int index = m.body().getInt(0);
        Vring v = vring(m, index);
        int on = m.body().getInt(4);
        if (on != 0 && on != 1) {
            throw new VhostUserProtocolException("SET_VRING_ENABLE: state " + on + " is neither 0 nor 1");
        }
        v.enabled = on == 1;
        maybeStart(index);
    }

    /** GET_VRING_BASE: stops the queue and returns its next available index, as the reply body. */
    ByteBuffer getBase(VhostUserMessage m) {
        m.expect(8, 0);
        int index = m.body().getInt(0);
        Vring v = vring(m, index);
        int last = v.base;
        if (v.started) {
            last = device.stopQueue(index);
            v.started = false;
            v.kickFd = -1;
            v.callFd = -1;
        } else {
            Libc.closeQuietly(v.kickFd);
            v.kickFd = -1;
        }
        v.base = last;
        v.enabled = false;
        return VhostUserSocket.le(8).putInt(0, index).putInt(4, last);
    }

    /** SET_VRING_KICK, SET_VRING_CALL and SET_VRING_ERR: a queue index and an fd (or none). */
    void setFd(VhostUserMessage m) {
        m.expect(8, -1);
        int request = m.request();
        long u = m.body().getLong(0);
        int index = (int) (u & 0xff);
        Vring v = vring(m, index);
        boolean invalid = (u & VRING_FD_INVALID) != 0;
        if ((u & ~0x1ffL) != 0) {
            throw new VhostUserProtocolException(String.format("request %d: bad vring fd word 0x%x", request, u));
        }
        m.expectFds(invalid ? 0 : 1);
        int fd = m.takeFd();
        switch (request) {
            case SET_VRING_KICK -> {
                if (fd < 0) {
                    throw new VhostUserProtocolException("SET_VRING_KICK " + index + ": polling mode is not supported");
                }
                if (v.started) {
                    Libc.closeQuietly(fd);
                    throw new VhostUserProtocolException("SET_VRING_KICK " + index + " while the queue runs");
                }
                Libc.closeQuietly(v.kickFd);
                v.kickFd = fd;
                maybeStart(index);
            }
            case SET_VRING_CALL -> {
                if (v.started) {
                    device.setCallFd(index, fd);
                } else {
                    Libc.closeQuietly(v.callFd);
                    v.callFd = fd;
                }
            }
            default -> Libc.closeQuietly(fd); // error notifications: we report errors by closing
        }
    }

    /** Closes the fds of queues that never started (a started queue's fds belong to the device). */
    void release() {
        for (Vring v : vrings) {
            if (!v.started) {
                Libc.closeQuietly(v.kickFd);
                Libc.closeQuietly(v.callFd);
            }
        }
        memory = null;
    }

    /** Starts a queue once it has everything: memory, size, addresses, kick fd and (with protocol features) enabled. */
    private void maybeStart(int index) {
        Vring v = vrings[index];
        boolean enabled = v.enabled || !enableNeeded;
        if (v.started || memory == null || !v.addrSet || v.kickFd < 0 || v.num == 0 || !enabled) {
            return;
        }
        Virtqueue q;
        try {
            long descGpa = memory.uvaToGpa(v.descUva, (long) Virtqueue.DESC_SIZE * v.num);
            long availGpa = memory.uvaToGpa(v.availUva, 6L + 2L * v.num);
            long usedGpa = memory.uvaToGpa(v.usedUva, 6L + 8L * v.num);
            q = new Virtqueue(memory, v.num, descGpa, availGpa, usedGpa, v.base);
        } catch (GuestMemory.GuestMemoryException | IllegalArgumentException e) {
            throw new VhostUserProtocolException("vring " + index + ": " + e.getMessage());
        }
        v.started = true;
        device.startQueue(index, q, v.kickFd, v.callFd);
        log.debug("{}: queue {} started (size {}, base {})", name, index, v.num, v.base);
    }

    private Vring vring(VhostUserMessage m, int index) {
        if (index < 0 || index >= vrings.length) {
            throw new VhostUserProtocolException("request " + m.request() + ": vring index " + index
                    + " out of range (device has " + vrings.length + " queues)");
        }
        return vrings[index];
    }

    /** The queue, which must not be running: its setup cannot change under the device. */
    private Vring idle(VhostUserMessage m, int index) {
        Vring v = vring(m, index);
        if (v.started) {
            throw new VhostUserProtocolException("request " + m.request() + " on vring " + index + " while it runs");
        }
        return v;
    }
}
