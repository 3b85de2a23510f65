package io.nemu.shim.daemon;

import ch.qos.logback.classic.pattern.ClassicConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Which pod a daemon thread works for, and where its log lines go. The sandbox id is inherited by the threads
 * a pod's call starts (its VM's watchers, stdio copies), so that each line names its pod ({@code %sandbox} in
 * logback.xml) and reaches the log fifo of that pod's bundle, which containerd reads into its own log; lines of
 * no pod go to the daemon's stderr.
 */
public final class PodLog {
    private static final InheritableThreadLocal<String> POD = new InheritableThreadLocal<>();
    private static final Map<String, Fifo> FIFOS = new ConcurrentHashMap<>();

    private PodLog() {
    }

    /** Runs {@code body} as work of pod {@code sandboxId}. */
    public static void in(String sandboxId, Runnable body) {
        String before = POD.get();
        POD.set(sandboxId);
        try {
            body.run();
        } finally {
            POD.set(before);
        }
    }

    /** The pod of this thread, or null. */
    public static String current() {
        return POD.get();
    }

    /**
     * From now on this pod's lines go to the bundle's {@code log} fifo (containerd opened its reading end before
     * it ran {@code start}); no fifo: they stay on the daemon's stderr.
     */
    public static void attach(String sandboxId, Path bundleDir) {
        Path fifo = bundleDir.resolve("log");
        if (!Files.exists(fifo)) {
            return;
        }
        try {
            FIFOS.put(sandboxId, new Fifo(sandboxId, new FileOutputStream(fifo.toFile(), true)));
        } catch (IOException e) {
            System.err.println("cannot open the log of pod " + sandboxId + " (" + fifo + "): " + e.getMessage());
        }
    }

    /** The pod's lines go back to the daemon's stderr; its fifo is closed once what is queued is written. */
    public static void detach(String sandboxId) {
        Fifo f = FIFOS.remove(sandboxId);
        if (f != null) {
            f.close();
        }
    }

    /** A stderr that sends each write to the fifo of the writing thread's pod, else to {@code daemon}. */
    public static PrintStream routingStderr(PrintStream daemon) {
        return new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                String pod = POD.get();
                Fifo fifo = pod == null ? null : FIFOS.get(pod);
                if (fifo == null || !fifo.offer(Arrays.copyOfRange(b, off, off + len))) {
                    daemon.write(b, off, len);
                }
            }
        }, true);
    }

    /**
     * One pod's log fifo, written by a thread of its own from a bounded queue: logging holds one lock for every
     * pod (logback's appender), so a write blocked on a fifo that containerd stopped reading must never happen on
     * the logging thread, or that one pod would stall the daemon's other pods. A full queue drops the pod's
     * lines (counted, and said when there is room again).
     */
    private static final class Fifo {
        private static final byte[] CLOSE = new byte[0];
        private static final long DRAIN_WAIT_MS = 2000;
        private final BlockingQueue<byte[]> queue = new ArrayBlockingQueue<>(4096);
        private final OutputStream out;
        private final AtomicLong dropped = new AtomicLong();
        private volatile boolean broken;
        private final Thread drainer;

        Fifo(String sandboxId, OutputStream out) {
            this.out = out;
            drainer = new Thread(this::drain, "log-" + sandboxId);
            drainer.setDaemon(true);
            drainer.start();
        }

        /** False when the fifo is broken: the caller writes the bytes elsewhere. */
        boolean offer(byte[] bytes) {
            if (broken) {
                return false;
            }
            if (!queue.offer(bytes)) {
                dropped.incrementAndGet();
            }
            return true;
        }

        /** Ends the drain after what is queued (the pod's last lines, e.g. why it died), waiting a little for it. */
        void close() {
            if (!queue.offer(CLOSE)) {
                broken = true; // the drain is stuck on a full fifo: it ends at its next write
                return;
            }
            try {
                drainer.join(DRAIN_WAIT_MS); // the daemon may exit right after its last pod leaves
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private void drain() {
            try (out) {
                while (true) {
                    byte[] next = queue.take();
                    if (next == CLOSE || broken) {
                        return;
                    }
                    long lost = dropped.getAndSet(0);
                    if (lost > 0) {
                        out.write(("(" + lost + " log writes of this pod dropped: its log fifo was not read)\n")
                                .getBytes(StandardCharsets.UTF_8));
                    }
                    out.write(next);
                }
            } catch (IOException e) {
                broken = true; // containerd let go of the fifo: the daemon's stderr from now on
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** logback's {@code %sandbox}: the thread's pod, else the process's {@code nemu.sandbox} property. */
    public static final class Converter extends ClassicConverter {
        @Override
        public String convert(ILoggingEvent event) {
            String pod = POD.get();
            return pod != null ? pod : System.getProperty("nemu.sandbox", "none");
        }
    }
}
