package io.nemu.vmm.vhostuser;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Device side of a split virtqueue (virtio 1.x, 2.7): descriptor table, available ring, used ring,
 * all in guest memory. No indirect descriptors and no event index (neither is offered). One thread
 * uses it.
 */
public final class Virtqueue {
    static final int DESC_SIZE = 16;
    static final int F_NEXT = 1;
    static final int F_WRITE = 2;
    static final int F_INDIRECT = 4;
    /** avail.flags: the driver does not want interrupts. */
    static final int AVAIL_F_NO_INTERRUPT = 1;
    public static final int MAX_SIZE = 32768;

    private final int size;
    private final GuestMemory memory;
    private final long descGpa;
    private final long availGpa;
    private final long usedGpa;
    private final ByteBuffer desc;
    private final ByteBuffer avail;
    private final ByteBuffer used;
    private int lastAvail;
    private int nextUsed;

    /**
     * @param size      queue size (power of two, 1..32768)
     * @param descGpa   guest physical address of the descriptor table
     * @param availGpa  of the available ring
     * @param usedGpa   of the used ring
     * @param base      first available index to process (SET_VRING_BASE)
     */
    public Virtqueue(GuestMemory memory, int size, long descGpa, long availGpa, long usedGpa, int base) {
        if (size < 1 || size > MAX_SIZE || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException("queue size must be a power of two in 1.." + MAX_SIZE + ", got " + size);
        }
        this.size = size;
        this.memory = memory;
        this.descGpa = descGpa;
        this.availGpa = availGpa;
        this.usedGpa = usedGpa;
        this.desc = memory.gpa(descGpa, DESC_SIZE * size);
        this.avail = memory.gpa(availGpa, 4 + 2 * size + 2);
        this.used = memory.gpa(usedGpa, 4 + 8 * size + 2);
        this.lastAvail = base & 0xffff;
        this.nextUsed = Short.toUnsignedInt(used.getShort(2));
    }

    /**
     * The same queue over a new memory table (memory hotplug): the rings keep their guest addresses and
     * the position is kept.
     */
    public Virtqueue remap(GuestMemory newMemory) {
        return new Virtqueue(newMemory, size, descGpa, availGpa, usedGpa, lastAvail);
    }

    public int size() {
        return size;
    }

    /** Next available index to process: what GET_VRING_BASE reports. */
    public int lastAvailIndex() {
        return lastAvail;
    }

    /** True when the driver has made chains available that are not popped yet. */
    public boolean hasAvailable() {
        return availIdx() != lastAvail;
    }

    private int availIdx() {
        int idx = Short.toUnsignedInt(avail.getShort(2));
        VarHandle.acquireFence();
        return idx;
    }

    /**
     * Takes the next available chain, or null when there is none.
     *
     * @throws VirtqueueException when the driver wrote a bad chain (loop, bad index, indirect, order)
     */
    public DescriptorChain pop() {
        int idx = availIdx();
        int pending = (idx - lastAvail) & 0xffff;
        if (pending == 0) {
            return null;
        }
        if (pending > size) {
            throw new VirtqueueException("driver made " + pending + " buffers available on a queue of " + size);
        }
        int head = Short.toUnsignedInt(avail.getShort(4 + 2 * (lastAvail % size)));
        DescriptorChain chain = walk(head);
        lastAvail = (lastAvail + 1) & 0xffff;
        return chain;
    }

    /** Gives back the chain popped last (it was not used after all). */
    public void unpop() {
        lastAvail = (lastAvail - 1) & 0xffff;
    }

    private DescriptorChain walk(int head) {
        List<ByteBuffer> readable = new ArrayList<>(2);
        List<ByteBuffer> writable = new ArrayList<>(2);
        int i = head;
        for (int count = 0; ; count++) {
            if (i >= size) {
                throw new VirtqueueException("descriptor index " + i + " out of range (queue size " + size + ")");
            }
            if (count >= size) {
                throw new VirtqueueException("descriptor chain from " + head + " loops or exceeds the queue size");
            }
            int o = i * DESC_SIZE;
            long addr = desc.getLong(o);
            int len = desc.getInt(o + 8);
            int flags = Short.toUnsignedInt(desc.getShort(o + 12));
            int next = Short.toUnsignedInt(desc.getShort(o + 14));
            if ((flags & F_INDIRECT) != 0) {
                throw new VirtqueueException("indirect descriptor " + i + " but VIRTIO_RING_F_INDIRECT_DESC was not offered");
            }
            if (len < 0) {
                throw new VirtqueueException("descriptor " + i + " length " + Integer.toUnsignedString(len) + " too large");
            }
            ByteBuffer b;
            try {
                b = memory.gpa(addr, len);
            } catch (GuestMemory.GuestMemoryException e) {
                throw new VirtqueueException("descriptor " + i + ": " + e.getMessage());
            }
            if ((flags & F_WRITE) != 0) {
                writable.add(b);
            } else {
                if (!writable.isEmpty()) {
                    throw new VirtqueueException("descriptor " + i + " is device-readable after a writable one");
                }
                readable.add(b);
            }
            if ((flags & F_NEXT) == 0) {
                break;
            }
            i = next;
        }
        return new DescriptorChain(head, readable, writable);
    }

    /** Returns a chain to the driver with {@code written} bytes written into its writable part. */
    public void addUsed(int head, int written) {
        int o = 4 + 8 * (nextUsed % size);
        used.putInt(o, head);
        used.putInt(o + 4, written);
        nextUsed = (nextUsed + 1) & 0xffff;
        // The element must be visible before the index that publishes it.
        VarHandle.releaseFence();
        used.putShort(2, (short) nextUsed);
    }

    /** Whether the driver wants an interrupt now (checked after {@link #addUsed}). */
    public boolean needsInterrupt() {
        VarHandle.fullFence();
        return (Short.toUnsignedInt(avail.getShort(0)) & AVAIL_F_NO_INTERRUPT) == 0;
    }

    /** The driver broke the virtqueue rules. */
    public static final class VirtqueueException extends RuntimeException {
        public VirtqueueException(String message) {
            super(message);
        }
    }
}
