package io.nemu.vmm.vhostuser;

import com.sun.jna.Memory;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A thread waiting on a queue's kick eventfd and reporting each kick. */
public final class Kicker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Kicker.class);

    private final int fd;
    private final Thread thread;
    private final Memory scratch = new Memory(16);
    private final Memory wake = new Memory(8);
    private volatile boolean stopped;

    public Kicker(String name, int fd, Runnable onKick) {
        this.fd = fd;
        this.thread = new Thread(() -> {
            try {
                while (!stopped) {
                    Libc.eventfdRead(fd, scratch);
                    if (!stopped) {
                        onKick.run();
                    }
                }
            } catch (IOException e) {
                if (!stopped) {
                    log.warn("{}: {}", name, e.getMessage());
                }
            }
        }, name);
        thread.setDaemon(true);
        thread.start();
    }

    /** Stops the thread (waking it through its own eventfd) and closes the fd. */
    @Override
    public void close() {
        stopped = true;
        try {
            Libc.eventfdWrite(fd, wake, 1);
        } catch (IOException ignored) {
            // the thread ends at its next read error anyway
        }
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Libc.closeQuietly(fd);
    }
}
