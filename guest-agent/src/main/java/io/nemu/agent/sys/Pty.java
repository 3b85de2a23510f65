package io.nemu.agent.sys;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** A pseudo-terminal the agent opens itself (the debug console's): its master, the slave's name, its size. */
public final class Pty {
    private Pty() {
    }

    /** A new master, close-on-exec, not the agent's controlling terminal; its slave unlocked. */
    public static Fd openMaster() throws IOException {
        Fd master;
        try {
            master = new Fd(Libc.C.posix_openpt(Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC));
        } catch (LastErrorException e) {
            throw new IOException("cannot open a pseudo-terminal: " + Libc.C.strerror(e.getErrorCode()));
        }
        try {
            Libc.C.grantpt(master.fd());
            Libc.C.unlockpt(master.fd());
            return master;
        } catch (LastErrorException e) {
            master.close();
            throw new IOException("cannot unlock a pseudo-terminal: " + Libc.C.strerror(e.getErrorCode()));
        }
    }

    /** The slave's path (/dev/pts/N). */
    public static String slaveName(Fd master) throws IOException {
        byte[] buf = new byte[128];
        int err = Libc.C.ptsname_r(master.fd(), buf, buf.length);
        if (err != 0) {
            throw new IOException("ptsname: " + Libc.C.strerror(err));
        }
        int len = 0;
        while (len < buf.length && buf[len] != 0) {
            len++;
        }
        return new String(buf, 0, len, StandardCharsets.US_ASCII);
    }

    /** TIOCSWINSZ: rows and columns, no pixel size. */
    public static void resize(Fd master, int rows, int cols) throws LastErrorException {
        Memory ws = new Memory(8);
        ws.setShort(0, (short) rows);
        ws.setShort(2, (short) cols);
        ws.setShort(4, (short) 0);
        ws.setShort(6, (short) 0);
        Libc.C.ioctl(master.fd(), Libc.TIOCSWINSZ, ws);
    }
}
