package io.nemu.shim.sandbox;

import io.nemu.contract.DebugConsole;
import io.nemu.vmm.RunPaths;
import io.nemu.vmm.channel.HybridVsockChannel;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The host side of a sandbox's debug console ({@link DebugConsole}): dials the guest's console port through the
 * sandbox's hybrid vsock socket (root's alone, in its 0700 state folder), sends the request, copies stdin in and
 * the output out, and returns the command's exit status.
 */
public final class DebugConsoleClient {
    private static final Duration DIAL = Duration.ofSeconds(10);

    private DebugConsoleClient() {
    }

    /** Why {@code nemu exec} cannot use this sandbox, or null when it can. */
    public static String refusal(HostSandbox s) {
        if (s.status() == HostSandbox.Status.STALE) {
            return "sandbox " + s.id() + " is stale: its shim daemon is dead";
        }
        SandboxRecord r = s.record().orElse(null);
        if (r == null) {
            return "sandbox " + s.id() + " has no VM yet (still starting?)" + (s.problem().isEmpty() ? "" : ": " + s.problem());
        }
        if (s.status() != HostSandbox.Status.RUNNING) {
            return "the VM of sandbox " + s.id() + " is not running (" + s.status() + ")";
        }
        if (!r.debugConsole()) {
            return "the debug console of sandbox " + s.id() + " is off: set debug_console_enabled = true under"
                    + " [agent.kata] in " + (r.config().isEmpty() ? "the configuration" : r.config())
                    + ", then start the pod again (the guest serves the console only when it booted with it)";
        }
        if (!Files.exists(socket(s))) {
            return "sandbox " + s.id() + " has no hybrid vsock socket " + socket(s) + " (a VM on the kernel's"
                    + " vhost-vsock): nemu exec reaches the built-in vsock backend only";
        }
        return null;
    }

    static Path socket(HostSandbox s) {
        return new RunPaths(s.paths().vmRun(), null).vsockSocket();
    }

    /**
     * Runs {@code request} in the sandbox's VM; {@code stdin} is copied until its end, output goes to {@code stdout}
     * and {@code stderr} (a terminal has only stdout). Returns the exit status.
     */
    public static int run(HostSandbox s, DebugConsole.Request request, InputStream stdin, OutputStream stdout,
                          OutputStream stderr) throws IOException {
        try (SocketChannel ch = HybridVsockChannel.connect(socket(s), DebugConsole.VSOCK_PORT, DIAL)) {
            DataOutputStream out = new DataOutputStream(new java.io.BufferedOutputStream(writer(ch)));
            DataInputStream in = new DataInputStream(new BufferedInputStream(reader(ch)));
            request.write(out);
            Thread feeder = new Thread(() -> feed(stdin, out), "debug-console-stdin");
            feeder.setDaemon(true);
            feeder.start();
            DebugConsole.Frame f;
            while ((f = DebugConsole.read(in)) != null) {
                switch (f.type()) {
                    case DebugConsole.STDOUT -> write(stdout, f.data());
                    case DebugConsole.STDERR -> write(stderr, f.data());
                    case DebugConsole.EXIT -> {
                        return f.intAt(0);
                    }
                    default -> throw new IOException("unknown debug console frame type " + f.type());
                }
            }
            throw new IOException("the debug console of sandbox " + s.id() + " closed without an exit status");
        }
    }

    private static void feed(InputStream stdin, DataOutputStream out) {
        byte[] buf = new byte[16 * 1024];
        try {
            int n;
            while ((n = stdin.read(buf)) > 0) {
                DebugConsole.write(out, DebugConsole.STDIN, buf, 0, n);
            }
            DebugConsole.write(out, DebugConsole.STDIN_EOF, buf, 0, 0);
        } catch (IOException e) {
            // the console closed: the reader reports it
        }
    }

    private static void write(OutputStream to, byte[] data) throws IOException {
        to.write(data);
        to.flush();
    }

    // The channel's own read and write, not Channels.newInputStream/newOutputStream: those share one lock, so a
    // blocked read would hold every write back.
    private static InputStream reader(SocketChannel ch) {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                return ch.read(ByteBuffer.wrap(b, off, len));
            }
        };
    }

    private static OutputStream writer(SocketChannel ch) {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                ByteBuffer bb = ByteBuffer.wrap(b, off, len);
                while (bb.hasRemaining()) {
                    ch.write(bb);
                }
            }
        };
    }
}
