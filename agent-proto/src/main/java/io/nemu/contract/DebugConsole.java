package io.nemu.contract;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The sandbox VM's debug console: a command (a shell by default) the guest agent runs in the VM itself, not in a
 * container, for {@code nemu exec}. Served on its own vsock port (Kata's 1026) only when the kernel command line
 * names that port ({@link #PORT_PARAM}, set by the shim for {@code [agent.kata] debug_console_enabled}); the
 * agent answers connections from the host's CID only, so a container in the guest cannot reach it.
 *
 * <p>The wire: the host writes one {@link Request}, then both sides send frames: a type byte, a big-endian int
 * length, that many bytes. Host to guest: {@link #STDIN}, {@link #STDIN_EOF}, {@link #RESIZE} (rows, cols as two
 * ints). Guest to host: {@link #STDOUT}, {@link #STDERR} (pipes only; a terminal has one stream), then one
 * {@link #EXIT} (the status as an int: the exit code, or 128 + signal) after all output.
 */
public final class DebugConsole {
    /** Kata's debug console vsock port. */
    public static final int VSOCK_PORT = 1026;
    /** Kernel parameter that turns the console on, naming its port (Kata's name). */
    public static final String PORT_PARAM = "agent.debug_console_vport";
    /** Kernel parameter with the agent's log level (Kata's name): {@code agent.log=debug}. */
    public static final String LOG_PARAM = "agent.log";
    /** The host's vsock CID: the only peer the console answers. */
    public static final int HOST_CID = 2;
    /** Largest frame either side sends or accepts. */
    public static final int MAX_FRAME = 64 * 1024;
    private static final int MAGIC = 0x4e454d55; // "NEMU"
    private static final int MAX_ARGS = 4096;

    public static final byte STDIN = 0;
    public static final byte STDIN_EOF = 1;
    public static final byte RESIZE = 2;
    public static final byte STDOUT = 1;
    public static final byte STDERR = 2;
    public static final byte EXIT = 3;

    private DebugConsole() {
    }

    /**
     * What to run: {@code argv} (empty: a login shell), with a terminal of {@code rows} x {@code cols} and
     * {@code TERM=term}, or with pipes when {@code tty} is false.
     */
    public record Request(boolean tty, int rows, int cols, String term, List<String> argv) {
        public Request {
            argv = List.copyOf(argv);
        }

        public void write(DataOutputStream out) throws IOException {
            out.writeInt(MAGIC);
            out.writeBoolean(tty);
            out.writeInt(rows);
            out.writeInt(cols);
            out.writeUTF(term);
            out.writeInt(argv.size());
            for (String a : argv) {
                out.writeUTF(a);
            }
            out.flush();
        }

        public static Request read(DataInputStream in) throws IOException {
            if (in.readInt() != MAGIC) {
                throw new IOException("not a debug console request");
            }
            boolean tty = in.readBoolean();
            int rows = in.readInt();
            int cols = in.readInt();
            String term = in.readUTF();
            int n = in.readInt();
            if (n < 0 || n > MAX_ARGS) {
                throw new IOException("bad argument count " + n);
            }
            List<String> argv = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                argv.add(in.readUTF());
            }
            return new Request(tty, rows, cols, term, argv);
        }
    }

    /** One frame; {@code data} is the payload (an int for EXIT, two for RESIZE). */
    public record Frame(byte type, byte[] data) {
        public int intAt(int index) {
            int o = index * 4;
            if (data.length < o + 4) {
                throw new IllegalStateException("frame " + type + " has " + data.length + " bytes, no int " + index);
            }
            return (data[o] & 0xff) << 24 | (data[o + 1] & 0xff) << 16 | (data[o + 2] & 0xff) << 8 | (data[o + 3] & 0xff);
        }
    }

    /** Writes one frame; writers of one stream must hold its lock, so this takes it. */
    public static void write(DataOutputStream out, byte type, byte[] data, int off, int len) throws IOException {
        synchronized (out) {
            out.writeByte(type);
            out.writeInt(len);
            out.write(data, off, len);
            out.flush();
        }
    }

    /** A frame carrying ints (EXIT, RESIZE). */
    public static void writeInts(DataOutputStream out, byte type, int... values) throws IOException {
        byte[] b = new byte[values.length * 4];
        for (int i = 0; i < values.length; i++) {
            int v = values[i];
            b[i * 4] = (byte) (v >>> 24);
            b[i * 4 + 1] = (byte) (v >>> 16);
            b[i * 4 + 2] = (byte) (v >>> 8);
            b[i * 4 + 3] = (byte) v;
        }
        write(out, type, b, 0, b.length);
    }

    /** The next frame, or null at the end of the stream between frames. */
    public static Frame read(DataInputStream in) throws IOException {
        int type = in.read();
        if (type < 0) {
            return null;
        }
        int len;
        try {
            len = in.readInt();
        } catch (EOFException e) {
            throw new IOException("debug console stream ended inside a frame header");
        }
        if (len < 0 || len > MAX_FRAME) {
            throw new IOException("debug console frame of " + len + " bytes (at most " + MAX_FRAME + ")");
        }
        byte[] data = new byte[len];
        in.readFully(data);
        return new Frame((byte) type, data);
    }
}
