package io.nemu.shim.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The controlling terminal of {@code nemu exec}: its size, and raw mode while a remote terminal is attached
 * (keys such as ^C then go to the guest, not to this process). Through stty(1) on /dev/tty: the JDK has no termios.
 */
final class HostTerminal implements AutoCloseable {
    private final String saved;

    private HostTerminal(String saved) {
        this.saved = saved;
    }

    /** Whether stdin and stdout are both a terminal (the JDK's console exists only then). */
    static boolean attached() {
        return System.console() != null;
    }

    /** Puts the terminal in raw mode; {@link #close} restores what it was. */
    static HostTerminal raw() throws IOException {
        HostTerminal t = new HostTerminal(stty("-g").strip());
        stty("raw", "-echo");
        return t;
    }

    /** Rows and columns; zeros when unknown. */
    static int[] size() {
        try {
            String[] f = stty("size").strip().split("\\s+");
            return new int[] {Integer.parseInt(f[0]), Integer.parseInt(f[1])};
        } catch (IOException | RuntimeException e) {
            return new int[] {0, 0};
        }
    }

    private static String stty(String... args) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(new java.util.ArrayList<>(List.of("stty")));
        pb.command().addAll(List.of(args));
        pb.redirectInput(new java.io.File("/dev/tty")).redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (p.waitFor() != 0) {
                throw new IOException("stty " + String.join(" ", args) + ": " + out.strip());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        return out;
    }

    @Override
    public void close() {
        try {
            stty(saved);
        } catch (IOException e) {
            System.err.println("nemu exec: could not restore the terminal (run `stty sane`): " + e.getMessage());
        }
    }
}
