package io.nemu.shim.daemon;

import ch.qos.logback.classic.pattern.ClassicConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which pod a daemon thread works for, and where its log lines go. The sandbox id is inherited by the threads
 * a pod's call starts (its VM's watchers, stdio copies), so that each line names its pod ({@code %sandbox} in
 * logback.xml) and reaches the log fifo of that pod's bundle, which containerd reads into its own log; lines of
 * no pod go to the daemon's stderr.
 */
public final class PodLog {
    private static final InheritableThreadLocal<String> POD = new InheritableThreadLocal<>();
    private static final Map<String, OutputStream> FIFOS = new ConcurrentHashMap<>();

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
            FIFOS.put(sandboxId, new FileOutputStream(fifo.toFile(), true));
        } catch (IOException e) {
            System.err.println("cannot open the log of pod " + sandboxId + " (" + fifo + "): " + e.getMessage());
        }
    }

    /** The pod's lines go back to the daemon's stderr; its fifo is closed. */
    public static void detach(String sandboxId) {
        OutputStream o = FIFOS.remove(sandboxId);
        if (o != null) {
            try {
                o.close();
            } catch (IOException e) {
                // containerd closed its end first: nothing to flush
            }
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
                OutputStream fifo = pod == null ? null : FIFOS.get(pod);
                if (fifo != null) {
                    try {
                        fifo.write(b, off, len);
                        return;
                    } catch (IOException e) {
                        FIFOS.remove(pod, fifo); // containerd let go of it: the daemon's stderr from now on
                    }
                }
                daemon.write(b, off, len);
            }
        }, true);
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
