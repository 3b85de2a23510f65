package io.nemu.vmm.vhostuser;

import com.sun.jna.LastErrorException;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Guest RAM as the frontend described it in SET_MEM_TABLE: regions with a guest physical address, the
 * frontend's virtual address (vring addresses are given in those) and a local view of the bytes. Views
 * are little-endian ByteBuffers. Not thread-safe: one thread (the device worker) uses it.
 */
public final class GuestMemory implements AutoCloseable {
    /** Regions are viewed in chunks so that a region over 2 GiB still fits ByteBuffers. */
    static final long CHUNK = 1L << 30;

    /** Bytes behind a region. */
    public interface Backing {
        /** Little-endian view of {@code len} bytes at {@code offset}. */
        ByteBuffer view(long offset, int len);

        void release();
    }

    /** One region of the table. */
    public record Region(long guestAddr, long size, long userAddr, Backing backing) {
        boolean containsGpa(long gpa, long len) {
            return Long.compareUnsigned(gpa, guestAddr) >= 0 && gpa - guestAddr + len <= size && len >= 0;
        }

        boolean containsUva(long uva, long len) {
            return Long.compareUnsigned(uva, userAddr) >= 0 && uva - userAddr + len <= size && len >= 0;
        }
    }

    private final List<Region> regions;
    private boolean closed;

    public GuestMemory(List<Region> regions) {
        this.regions = List.copyOf(regions);
    }

    public List<Region> regions() {
        return regions;
    }

    /** View of guest physical range [gpa, gpa+len); throws if it is not inside one region. */
    public ByteBuffer gpa(long gpa, int len) {
        for (Region r : regions) {
            if (r.containsGpa(gpa, len)) {
                return r.backing.view(gpa - r.guestAddr, len);
            }
        }
        throw new GuestMemoryException(String.format("guest range 0x%x+%d is outside guest memory", gpa, len));
    }

    /** Guest physical address of a frontend virtual address (vring addresses come as those). */
    public long uvaToGpa(long uva, long len) {
        for (Region r : regions) {
            if (r.containsUva(uva, len)) {
                return r.guestAddr + (uva - r.userAddr);
            }
        }
        throw new GuestMemoryException(String.format("frontend address 0x%x+%d is in no memory region", uva, len));
    }

    /** Unmaps every region. Views handed out before must no longer be touched. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Region r : regions) {
            r.backing.release();
        }
    }

    /** A guest address outside the table: the guest or frontend gave a bad address. */
    public static final class GuestMemoryException extends RuntimeException {
        public GuestMemoryException(String message) {
            super(message);
        }
    }

    /** Backing over a heap or direct buffer (tests). */
    public static Backing ofBuffer(ByteBuffer buf) {
        return new Backing() {
            @Override
            public ByteBuffer view(long offset, int len) {
                return buf.slice((int) offset, len).order(ByteOrder.LITTLE_ENDIAN);
            }

            @Override
            public void release() {
            }
        };
    }

    /**
     * Maps {@code mmapOffset + size} bytes of {@code fd} shared and read-write; the region starts at
     * {@code mmapOffset} in the mapping. The fd can be closed afterwards.
     */
    public static Backing map(int fd, long size, long mmapOffset) throws IOException {
        long total = mmapOffset + size;
        Pointer base;
        try {
            base = Libc.C.mmap(null, total, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
        } catch (LastErrorException e) {
            throw Libc.error("mmap of " + total + " bytes of fd " + fd, e);
        }
        if (Pointer.nativeValue(base) == Libc.MAP_FAILED) {
            throw new IOException("mmap of fd " + fd + " failed");
        }
        return new MappedBacking(base, total, mmapOffset, size);
    }

    /** An mmapped region, viewed through cached 1 GiB chunks. */
    static final class MappedBacking implements Backing {
        private final Pointer base;
        private final long mapLength;
        private final long start;
        private final List<ByteBuffer> chunks = new ArrayList<>();
        private boolean released;

        MappedBacking(Pointer base, long mapLength, long start, long size) {
            this.base = base;
            this.mapLength = mapLength;
            this.start = start;
            for (long off = 0; off < size; off += CHUNK) {
                chunks.add(base.getByteBuffer(start + off, Math.min(CHUNK, size - off)));
            }
        }

        @Override
        public ByteBuffer view(long offset, int len) {
            if (released) {
                throw new IllegalStateException("guest memory already unmapped");
            }
            int c = (int) (offset / CHUNK);
            int inChunk = (int) (offset % CHUNK);
            if (inChunk + (long) len <= CHUNK) {
                return chunks.get(c).slice(inChunk, len).order(ByteOrder.LITTLE_ENDIAN);
            }
            // Crosses a chunk border: a one-off view.
            return base.getByteBuffer(start + offset, len).order(ByteOrder.LITTLE_ENDIAN);
        }

        @Override
        public void release() {
            if (!released) {
                released = true;
                chunks.clear();
                try {
                    Libc.C.munmap(base, mapLength);
                } catch (LastErrorException ignored) {
                    // nothing more to do
                }
            }
        }

        @Override
        public String toString() {
            return String.format("mapping 0x%x+%d", Pointer.nativeValue(base), mapLength);
        }
    }
}
