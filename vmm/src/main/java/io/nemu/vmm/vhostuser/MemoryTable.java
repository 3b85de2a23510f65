package io.nemu.vmm.vhostuser;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/** SET_MEM_TABLE: the guest's memory regions, each an fd the frontend passed, mapped into this process. */
final class MemoryTable {
    static final int MAX_REGIONS = 8;
    private static final int REGION_SIZE = 32;

    private MemoryTable() {
    }

    /** Checks the table and maps its regions; on failure, releases what it had mapped. */
    static GuestMemory map(VhostUserMessage m) throws IOException {
        ByteBuffer body = m.body();
        List<GuestMemory.Region> regions = new ArrayList<>();
        try {
            if (body.remaining() < 8) {
                throw new VhostUserProtocolException("SET_MEM_TABLE: body of " + body.remaining() + " bytes");
            }
            int n = body.getInt(0);
            if (n < 1 || n > MAX_REGIONS || body.remaining() != 8 + REGION_SIZE * n) {
                throw new VhostUserProtocolException("SET_MEM_TABLE: " + n + " regions in a body of " + body.remaining()
                        + " bytes (1.." + MAX_REGIONS + " regions of " + REGION_SIZE + " bytes after 8)");
            }
            m.expectFds(n);
            for (int i = 0; i < n; i++) {
                int o = 8 + REGION_SIZE * i;
                long gpa = body.getLong(o);
                long size = body.getLong(o + 8);
                long uva = body.getLong(o + 16);
                long mmapOffset = body.getLong(o + 24);
                if (size <= 0 || mmapOffset < 0 || gpa + size < gpa || mmapOffset + size < 0) {
                    throw new VhostUserProtocolException(String.format(
                            "SET_MEM_TABLE: region %d (gpa 0x%x size 0x%x offset 0x%x) is not a valid range", i, gpa, size,
                            mmapOffset));
                }
                regions.add(new GuestMemory.Region(gpa, size, uva, GuestMemory.map(m.fds()[i], size, mmapOffset)));
            }
        } catch (IOException | RuntimeException e) {
            for (GuestMemory.Region r : regions) {
                r.backing().release();
            }
            throw e;
        }
        return new GuestMemory(regions);
    }
}
