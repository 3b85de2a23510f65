package io.nemu.agent.sys;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;

/** poll(2) on one descriptor. */
public final class Poll {
    private Poll() {}

    public static boolean readable(int fd, int timeoutMillis) throws java.io.IOException {
        Memory p = new Memory(8);
        p.setInt(0, fd);
        p.setShort(4, (short) Libc.POLLIN);
        p.setShort(6, (short) 0);
        try {
            return Libc.C.poll(p, 1, timeoutMillis) > 0;
        } catch (LastErrorException e) {
            if (e.getErrorCode() == Libc.EINTR) {
                return false;
            }
            throw new java.io.IOException("poll: " + Libc.C.strerror(e.getErrorCode()));
        }
    }
}
